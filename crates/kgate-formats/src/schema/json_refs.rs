//! Finds `$ref` cycles in a JSON Schema that never descend into the document being
//! validated, such as `{"$ref": "#"}` or two definitions that refer to each other.
//!
//! The validator follows such a cycle forever (compiling a new copy of the schema at every
//! turn), so one record would take a thread and memory without end. A schema with such a
//! cycle has no meaning (validating any document under it never ends), and is refused when
//! it is registered or used.
//!
//! The analysis over-approximates where a reference may lead (every anchor of a name,
//! every document whose name ends like the reference's), so that it misses no cycle; a
//! schema it refuses has a cycle under at least one reading of its references.
//!
//! The same walk tells what each reference costs the validator in memory (see
//! `json_budget`): it keeps a copy of what the reference leads to.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use crate::limits::{MAX_SCHEMA_DEPTH, MAX_SCHEMA_EXPANSION, MAX_SCHEMA_TOTAL_BYTES};

/// Keywords whose subschema applies to the same document as the schema holding them.
pub(super) const IN_PLACE: &[&str] = &["not", "if", "then", "else"];
/// Keywords holding arrays of subschemas that apply to the same document.
pub(super) const IN_PLACE_ARRAYS: &[&str] = &["allOf", "anyOf", "oneOf"];
/// Keywords holding maps of subschemas that apply to the same document.
pub(super) const IN_PLACE_MAPS: &[&str] = &["dependentSchemas", "dependencies"];
/// Keywords whose subschema applies to a part of the document.
pub(super) const DESCENDING: &[&str] = &[
    "additionalItems",
    "additionalProperties",
    "contains",
    "propertyNames",
    "items",
    "unevaluatedItems",
    "unevaluatedProperties",
    "contentSchema",
];
/// Keywords holding arrays of subschemas that apply to parts of the document.
pub(super) const DESCENDING_ARRAYS: &[&str] = &["items", "prefixItems"];
/// Keywords holding maps of subschemas that apply to parts of the document. (Definitions
/// apply to nothing unless referenced: only cycles a validation can reach are cycles.)
pub(super) const DESCENDING_MAPS: &[&str] = &["properties", "patternProperties"];
/// Keywords whose values are data, not schemas.
pub(super) const DATA: &[&str] = &["enum", "const", "default", "examples"];

/// Keywords whose string value is a reference.
pub(super) const REFERENCES: &[&str] = &["$ref", "$dynamicRef", "$recursiveRef"];

/// A subschema: a document (0 is the schema itself, then its references) and the JSON
/// pointer of the subschema in it.
type Node = (usize, String);

/// What each reference may cost when the validator compiles it, by keyword and
/// reference text: the estimated size of the largest subschema it may lead to, plus
/// what that subschema's own references cost in turn (see `json_budget`).
pub(crate) type ReferenceCosts = HashMap<(String, String), usize>;

/// Checks the references of a schema (the first of `documents`, the others being the
/// schemas it references, with their names) and tells what each costs; the error says
/// what is wrong with them: a cycle that does not descend into the document, a chain of
/// subschemas (through references or not) longer than [`MAX_SCHEMA_DEPTH`], which the
/// validator would compile by recursing once per link, or more subschemas unfolded
/// than [`MAX_SCHEMA_EXPANSION`].
pub(crate) fn analyze(documents: &[(&str, &Value)]) -> Result<ReferenceCosts, String> {
    let targets = collect_targets(documents);
    let mut edges = 0usize;
    let mut graph = Graph::default();
    // Every reference met: the subschema holding it, its keyword and text, and the
    // subschemas it may lead to.
    let mut references: Vec<(usize, String, String, Vec<usize>)> = Vec::new();
    graph.add((0, String::new()));
    while let Some(at) = graph.queue.pop() {
        let (doc, pointer) = graph.nodes[at].clone();
        let Some(Value::Object(schema)) = documents[doc].1.pointer(&pointer) else {
            continue;
        };
        let mut same: Vec<Node> = Vec::new();
        let mut below: Vec<Node> = Vec::new();
        let mut met: Vec<(String, String, Vec<Node>)> = Vec::new();
        for (keyword, value) in schema {
            let child = |rest: &str| (doc, format!("{pointer}/{}{rest}", escape(keyword)));
            let k = keyword.as_str();
            if DATA.contains(&k) {
                continue;
            }
            if IN_PLACE.contains(&k) {
                same.push(child(""));
            }
            if DESCENDING.contains(&k) && value.is_object() {
                below.push(child(""));
            }
            if let Value::Array(items) = value {
                let target = if IN_PLACE_ARRAYS.contains(&k) {
                    &mut same
                } else if DESCENDING_ARRAYS.contains(&k) {
                    &mut below
                } else {
                    continue;
                };
                target.extend((0..items.len()).map(|i| child(&format!("/{i}"))));
            }
            if let Value::Object(entries) = value {
                let target = if IN_PLACE_MAPS.contains(&k) {
                    &mut same
                } else if DESCENDING_MAPS.contains(&k) {
                    &mut below
                } else {
                    continue;
                };
                target.extend(
                    entries
                        .iter()
                        .filter(|(_, v)| v.is_object())
                        .map(|(name, _)| child(&format!("/{}", escape(name)))),
                );
            }
            if REFERENCES.contains(&k)
                && let Value::String(reference) = value
            {
                let found = resolve(documents, &targets, doc, &pointer, k, reference);
                same.extend(found.iter().cloned());
                met.push((k.to_string(), reference.clone(), found));
            }
        }
        for node in below {
            let to = graph.add(node);
            graph.descending.push((at, to));
        }
        edges += same.len();
        // Only anchors declared many times over can make more edges than the texts have
        // bytes.
        if edges > MAX_SCHEMA_TOTAL_BYTES {
            return Err(format!(
                "its references lead to more than {MAX_SCHEMA_TOTAL_BYTES} places"
            ));
        }
        for node in same {
            let to = graph.add(node);
            graph.in_place[at].push(to);
        }
        for (keyword, reference, found) in met {
            let found = found.into_iter().map(|n| graph.add(n)).collect();
            references.push((at, keyword, reference, found));
        }
    }
    let Graph {
        nodes,
        in_place,
        descending,
        ..
    } = graph;
    let place = |n: usize| {
        let (doc, pointer) = &nodes[n];
        let document = if *doc == 0 {
            "the schema".to_string()
        } else {
            format!("reference {:?}", documents[*doc].0)
        };
        format!("#{pointer} of {document}")
    };
    if let Some(n) = find_cycle(&in_place) {
        return Err(format!(
            "the references at {} lead back to it without descending into the document, so validating would never end",
            place(n)
        ));
    }
    let mut all = in_place;
    for (from, to) in descending {
        all[from].push(to);
    }
    let (longest, unfolded) = longest_chain(&all);
    if longest > MAX_SCHEMA_DEPTH {
        return Err(format!(
            "its subschemas and references form a chain of {longest} levels or more, more than kgate's limit of {MAX_SCHEMA_DEPTH}"
        ));
    }
    if unfolded > MAX_SCHEMA_EXPANSION {
        return Err(format!(
            "its references unfold into more than kgate's limit of {MAX_SCHEMA_EXPANSION} subschemas"
        ));
    }
    Ok(reference_costs(documents, &nodes, &references))
}

/// What each reference costs: the validator keeps a copy of what a reference leads to
/// (and, when it compiles that copy, of what its own references lead to), so a
/// reference costs the size of its largest possible target plus that target's own
/// references, followed to their end (the chains are acyclic and bounded once
/// [`analyze`] found no cycle).
fn reference_costs(
    documents: &[(&str, &Value)],
    nodes: &[Node],
    references: &[(usize, String, String, Vec<usize>)],
) -> ReferenceCosts {
    let mut held: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, (at, _, _, _)) in references.iter().enumerate() {
        held.entry(*at).or_default().push(i);
    }
    let targets: HashSet<usize> = references
        .iter()
        .flat_map(|(_, _, _, found)| found.iter().copied())
        .collect();
    let sizes = target_sizes(documents, nodes, &targets);
    // The cost of each target, its references' targets first (an explicit stack: chains
    // may be as long as MAX_SCHEMA_DEPTH).
    let mut cost: HashMap<usize, usize> = HashMap::new();
    for &target in &targets {
        let mut stack = vec![(target, false)];
        let mut open: HashSet<usize> = HashSet::new();
        while let Some((node, expanded)) = stack.pop() {
            if cost.contains_key(&node) {
                continue;
            }
            let below = held.get(&node).map(Vec::as_slice).unwrap_or_default();
            if !expanded {
                if !open.insert(node) {
                    // A cycle would have been refused; count a node met again as nothing
                    // more rather than loop.
                    cost.insert(node, sizes.get(&node).copied().unwrap_or(0));
                    continue;
                }
                stack.push((node, true));
                for &r in below {
                    stack.extend(references[r].3.iter().map(|&t| (t, false)));
                }
                continue;
            }
            let own = sizes.get(&node).copied().unwrap_or(0);
            let refs = below.iter().fold(0usize, |sum, &r| {
                let largest = references[r]
                    .3
                    .iter()
                    .map(|t| cost.get(t).copied().unwrap_or(0))
                    .max()
                    .unwrap_or(0);
                sum.saturating_add(largest)
            });
            cost.insert(node, own.saturating_add(refs));
        }
    }
    let mut out = ReferenceCosts::new();
    for (_, keyword, reference, found) in references {
        let largest = found
            .iter()
            .map(|t| cost.get(t).copied().unwrap_or(0))
            .max()
            .unwrap_or(0);
        let entry = out.entry((keyword.clone(), reference.clone())).or_default();
        *entry = (*entry).max(largest);
    }
    out
}

/// The estimated size of each subschema in `targets`, in one walk of each document.
fn target_sizes(
    documents: &[(&str, &Value)],
    nodes: &[Node],
    targets: &HashSet<usize>,
) -> HashMap<usize, usize> {
    let mut wanted: Vec<HashMap<&str, usize>> = vec![HashMap::new(); documents.len()];
    for &t in targets {
        let (doc, pointer) = &nodes[t];
        wanted[*doc].insert(pointer.as_str(), t);
    }
    let mut sizes = HashMap::new();
    for (doc, (_, root)) in documents.iter().enumerate() {
        if !wanted[doc].is_empty() {
            let mut pointer = String::new();
            size_at(root, &mut pointer, &wanted[doc], &mut sizes);
        }
    }
    sizes
}

/// The estimated size of `value` (at `pointer`), noting it in `sizes` if it is wanted.
/// Recursive: documents are at most [`MAX_SCHEMA_DEPTH`] deep by then.
fn size_at(
    value: &Value,
    pointer: &mut String,
    wanted: &HashMap<&str, usize>,
    sizes: &mut HashMap<usize, usize>,
) -> usize {
    let size = match value {
        Value::Object(entries) => {
            entries
                .iter()
                .fold(super::json_budget::OBJECT_BYTES, |sum, (key, child)| {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&escape(key));
                    let child = size_at(child, pointer, wanted, sizes);
                    pointer.truncate(len);
                    sum.saturating_add(super::json_budget::entry_bytes(key, child))
                })
        }
        Value::Array(items) => {
            items
                .iter()
                .enumerate()
                .fold(super::json_budget::VALUE_BYTES, |sum, (i, item)| {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&i.to_string());
                    let item = size_at(item, pointer, wanted, sizes);
                    pointer.truncate(len);
                    sum.saturating_add(item)
                })
        }
        other => super::json_budget::value_bytes(other),
    };
    if let Some(&node) = wanted.get(pointer.as_str()) {
        sizes.insert(node, size);
    }
    size
}

/// From node 0: the number of nodes on the longest path, where a set of nodes that reach
/// each other (a recursive schema) counts as all of its nodes, an upper bound on how
/// deeply a compiler that stops at the first repeated node can recurse; and the number of
/// paths (each such set counting as one node), which is how many subschemas the validator
/// compiles when it unfolds shared references, as it does lazily while validating.
fn longest_chain(edges: &[Vec<usize>]) -> (usize, usize) {
    let component = strongly_connected(edges);
    let count = component.iter().copied().max().map_or(0, |m| m + 1);
    let mut size = vec![0usize; count];
    for &c in &component {
        size[c] += 1;
    }
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); count];
    for (from, targets) in edges.iter().enumerate() {
        for &to in targets {
            if component[from] != component[to] {
                next[component[from]].push(component[to]);
            }
        }
    }
    // Tarjan numbers components in reverse topological order: successors first.
    let mut longest = vec![0usize; count];
    let mut paths = vec![0usize; count];
    for c in 0..count {
        let below = next[c].iter().map(|&d| longest[d]).max().unwrap_or(0);
        longest[c] = size[c].saturating_add(below);
        paths[c] = next[c]
            .iter()
            .fold(size[c], |sum, &d| sum.saturating_add(paths[d]));
    }
    component
        .first()
        .map_or((0, 0), |&root| (longest[root], paths[root]))
}

/// Tarjan's strongly connected components, without recursion: the component of each
/// node, numbered so that every edge between components goes to a lower number.
fn strongly_connected(edges: &[Vec<usize>]) -> Vec<usize> {
    const UNSEEN: usize = usize::MAX;
    let n = edges.len();
    let mut order = vec![UNSEEN; n];
    let mut low = vec![0usize; n];
    let mut on_stack = vec![false; n];
    let mut component = vec![UNSEEN; n];
    let mut stack: Vec<usize> = Vec::new();
    let (mut counter, mut components) = (0usize, 0usize);
    for start in 0..n {
        if order[start] != UNSEEN {
            continue;
        }
        let mut calls: Vec<(usize, usize)> = vec![(start, 0)];
        order[start] = counter;
        low[start] = counter;
        counter += 1;
        stack.push(start);
        on_stack[start] = true;
        while let Some(&mut (node, ref mut next)) = calls.last_mut() {
            if let Some(&to) = edges[node].get(*next) {
                *next += 1;
                if order[to] == UNSEEN {
                    order[to] = counter;
                    low[to] = counter;
                    counter += 1;
                    stack.push(to);
                    on_stack[to] = true;
                    calls.push((to, 0));
                } else if on_stack[to] {
                    low[node] = low[node].min(order[to]);
                }
                continue;
            }
            calls.pop();
            if let Some(&(parent, _)) = calls.last() {
                low[parent] = low[parent].min(low[node]);
            }
            if low[node] == order[node] {
                while let Some(member) = stack.pop() {
                    on_stack[member] = false;
                    component[member] = components;
                    if member == node {
                        break;
                    }
                }
                components += 1;
            }
        }
    }
    component
}

/// The subschemas found so far and the edges between them.
#[derive(Default)]
struct Graph {
    index: HashMap<Node, usize>,
    nodes: Vec<Node>,
    /// Edges to subschemas that apply to the same document.
    in_place: Vec<Vec<usize>>,
    /// Edges to subschemas that apply to a part of the document.
    descending: Vec<(usize, usize)>,
    /// Nodes whose edges are still to be found.
    queue: Vec<usize>,
}

impl Graph {
    /// The number of `node`, added (and queued) if it is new.
    fn add(&mut self, node: Node) -> usize {
        if let Some(&n) = self.index.get(&node) {
            return n;
        }
        let n = self.nodes.len();
        self.index.insert(node.clone(), n);
        self.nodes.push(node);
        self.in_place.push(Vec::new());
        self.queue.push(n);
        n
    }
}

/// A node on a cycle of `edges`, if there is one (iterative depth-first search).
fn find_cycle(edges: &[Vec<usize>]) -> Option<usize> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark = vec![Mark::New; edges.len()];
    for start in 0..edges.len() {
        if mark[start] != Mark::New {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = Mark::Open;
        while let Some((node, next)) = stack.last_mut() {
            let node = *node;
            if let Some(&to) = edges[node].get(*next) {
                *next += 1;
                match mark[to] {
                    Mark::Open => return Some(to),
                    Mark::New => {
                        mark[to] = Mark::Open;
                        stack.push((to, 0));
                    }
                    Mark::Done => {}
                }
            } else {
                mark[node] = Mark::Done;
                stack.pop();
            }
        }
    }
    None
}

/// What references may name, gathered in one walk of every document.
#[derive(Default)]
struct Targets {
    /// Subschemas carrying an anchor (`$anchor`, `$dynamicAnchor`, or an `$id`/`id` of
    /// the form `#name`), by the anchor's name.
    anchors: HashMap<String, Vec<Node>>,
    /// Subschemas with `"$recursiveAnchor": true`.
    recursive: Vec<Node>,
    /// Documents (by their reference name) and embedded resources (by their `$id`), by
    /// the last path segment of that name.
    named: HashMap<String, Vec<Node>>,
}

/// The last path segment of a URI (without its fragment), which is how references to
/// other documents are matched: loosely, so that no possible target is missed.
fn last_segment(uri: &str) -> String {
    let uri = uri.split('#').next().unwrap_or("");
    // A directory (`/`, `json-schema:///`, `./`), such as the schema's own base URI.
    if uri.ends_with('/') {
        return String::new();
    }
    match uri.rsplit('/').next().unwrap_or("") {
        "." | ".." => String::new(),
        segment => segment.to_string(),
    }
}

fn collect_targets(documents: &[(&str, &Value)]) -> Targets {
    let mut t = Targets::default();
    for (doc, (name, root)) in documents.iter().enumerate() {
        // The schema itself is at the validator's default base, `json-schema:///`, whose
        // last segment is empty: `"$ref": "/"` or `"."` is the whole schema.
        let name = if doc == 0 { "" } else { name };
        t.named
            .entry(last_segment(name))
            .or_default()
            .push((doc, String::new()));
        let mut pending: Vec<(String, &Value)> = vec![(String::new(), root)];
        while let Some((pointer, value)) = pending.pop() {
            match value {
                Value::Object(o) => {
                    for key in ["$anchor", "$dynamicAnchor"] {
                        if let Some(Value::String(name)) = o.get(key) {
                            t.anchors
                                .entry(name.clone())
                                .or_default()
                                .push((doc, pointer.clone()));
                        }
                    }
                    for key in ["$id", "id"] {
                        if let Some(Value::String(id)) = o.get(key) {
                            let (entry, place) = match id.strip_prefix('#') {
                                Some(anchor) => (anchor.to_string(), &mut t.anchors),
                                None => (last_segment(id), &mut t.named),
                            };
                            place.entry(entry).or_default().push((doc, pointer.clone()));
                        }
                    }
                    if o.get("$recursiveAnchor") == Some(&Value::Bool(true)) {
                        t.recursive.push((doc, pointer.clone()));
                    }
                    for (k, v) in o {
                        if !DATA.contains(&k.as_str()) {
                            pending.push((format!("{pointer}/{}", escape(k)), v));
                        }
                    }
                }
                Value::Array(items) => {
                    for (i, v) in items.iter().enumerate() {
                        pending.push((format!("{pointer}/{i}"), v));
                    }
                }
                _ => {}
            }
        }
    }
    t
}

/// Where a reference may lead.
fn resolve(
    documents: &[(&str, &Value)],
    targets: &Targets,
    doc: usize,
    pointer: &str,
    keyword: &str,
    reference: &str,
) -> Vec<Node> {
    let (target, fragment) = match reference.split_once('#') {
        Some((t, f)) => (t, f),
        None => (reference, ""),
    };
    let fragment = percent_decode(fragment);
    let mut out = Vec::new();
    if fragment.is_empty() || fragment.starts_with('/') {
        if let Some(normal) = normalize_pointer(&fragment) {
            // The resources the reference may be relative to.
            if target.is_empty() {
                let root = resource_root(documents[doc].1, pointer);
                out.push((doc, format!("{root}{normal}")));
            } else if let Some(named) = targets.named.get(&last_segment(target)) {
                out.extend(
                    named
                        .iter()
                        .map(|(d, root)| (*d, format!("{root}{normal}"))),
                );
            }
        }
    } else if let Some(found) = targets.anchors.get(&fragment) {
        out.extend(found.iter().cloned());
    }
    // `$recursiveRef` and `$dynamicRef` may lead to any resource that declares itself a
    // target of them.
    if keyword != "$ref" {
        out.extend(targets.recursive.iter().cloned());
    }
    out
}

/// The pointer of the resource (the nearest enclosing schema with an `$id` that is not
/// an anchor) that the subschema at `pointer` belongs to.
fn resource_root(root: &Value, pointer: &str) -> String {
    let mut prefix = pointer;
    loop {
        if let Some(Value::Object(o)) = root.pointer(prefix) {
            let has_id = ["$id", "id"]
                .iter()
                .any(|k| matches!(o.get(*k), Some(Value::String(id)) if !id.starts_with('#')));
            if has_id {
                return prefix.to_string();
            }
        }
        match prefix.rfind('/') {
            Some(i) => prefix = &prefix[..i],
            None => return String::new(),
        }
    }
}

/// A JSON pointer's segments re-escaped the one way this module writes them, so that two
/// spellings of one location are one node.
fn normalize_pointer(fragment: &str) -> Option<String> {
    if fragment.is_empty() {
        return Some(String::new());
    }
    let mut out = String::new();
    for segment in fragment.strip_prefix('/')?.split('/') {
        let unescaped = segment.replace("~1", "/").replace("~0", "~");
        out.push('/');
        out.push_str(&escape(&unescaped));
    }
    Some(out)
}

/// A key as a JSON pointer segment.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Decodes `%XX` escapes (a URI fragment's form of a JSON pointer); anything else is kept.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = text.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cycle(schema: Value) -> Option<String> {
        analyze(&[("", &schema)]).err()
    }

    #[test]
    fn in_place_cycles_are_found() {
        assert!(cycle(json!({"$ref": "#"})).is_some());
        assert!(cycle(json!({"allOf": [{"$ref": "#"}]})).is_some());
        assert!(
            cycle(json!({
                "definitions": {"a": {"$ref": "#/definitions/b"}, "b": {"anyOf": [{"$ref": "#/definitions/a"}]}},
                "properties": {"x": {"$ref": "#/definitions/a"}}
            }))
            .is_some()
        );
        assert!(
            cycle(json!({"$defs": {"a": {"$anchor": "here", "not": {"$ref": "#here"}}}})).is_none()
        );
        assert!(
            cycle(json!({"$defs": {"a": {"$anchor": "here", "not": {"$ref": "#here"}}}, "$ref": "#here"}))
                .is_some()
        );
        assert!(cycle(json!({"$ref": "#/%64efs/a", "defs": {"a": {"$ref": "#"}}})).is_some());
        // Found by fuzzing (schema_json): "/" is the schema's own base URI.
        for reference in ["/", ".", "./", "json-schema:///"] {
            assert!(
                cycle(json!({"allOf": [{"$ref": reference}]})).is_some(),
                "{reference}"
            );
        }
        assert!(cycle(json!({"$id": "http://x.org/s.json", "not": {"$ref": "s.json"}})).is_some());
    }

    #[test]
    fn recursion_through_the_document_is_fine() {
        assert!(
            cycle(json!({
                "type": "object",
                "properties": {"next": {"$ref": "#"}, "items": {"type": "array", "items": {"$ref": "#"}}},
                "additionalProperties": {"anyOf": [{"$ref": "#/definitions/leaf"}, {"$ref": "#"}]},
                "definitions": {"leaf": {"type": "string"}}
            }))
            .is_none()
        );
        assert!(cycle(json!({"properties": {"$ref": {"$ref": "#"}}})).is_none());
        assert!(
            cycle(json!({"enum": [{"$ref": "#"}], "default": {"allOf": [{"$ref": "#"}]}}))
                .is_none()
        );
    }

    #[test]
    fn long_chains_are_found() {
        let chain = |links: usize, via_properties: bool| {
            let mut definitions = serde_json::Map::new();
            for i in 0..links {
                let next = json!({"$ref": format!("#/definitions/d{}", i + 1)});
                let link = if via_properties {
                    json!({"properties": {"a": next}})
                } else {
                    next
                };
                definitions.insert(format!("d{i}"), link);
            }
            definitions.insert(format!("d{links}"), json!({"type": "string"}));
            json!({"definitions": definitions, "$ref": "#/definitions/d0"})
        };
        assert!(cycle(chain(MAX_SCHEMA_DEPTH - 2, false)).is_none());
        assert!(cycle(chain(MAX_SCHEMA_DEPTH, false)).is_some());
        assert!(cycle(chain(MAX_SCHEMA_DEPTH / 2 - 2, true)).is_none());
        assert!(cycle(chain(MAX_SCHEMA_DEPTH / 2, true)).is_some());
        // References shared at every level unfold exponentially.
        let mut definitions = serde_json::Map::new();
        for i in 0..20 {
            let next = json!({"$ref": format!("#/definitions/d{}", i + 1)});
            definitions.insert(format!("d{i}"), json!({"allOf": [next.clone(), next]}));
        }
        definitions.insert("d20".into(), json!({"type": "string"}));
        let message = cycle(json!({"definitions": definitions, "$ref": "#/definitions/d0"}));
        assert!(message.is_some_and(|m| m.contains("unfold")));
        // A recursive schema counts once, however often it recurses.
        assert!(
            cycle(json!({"properties": {"a": {"$ref": "#"}, "b": {"items": {"$ref": "#"}}}}))
                .is_none()
        );
    }

    #[test]
    fn cycles_through_references_are_found() {
        let a = json!({"$ref": "b.json"});
        let b = json!({"allOf": [{"$ref": "a.json#"}]});
        assert!(
            analyze(&[
                ("", &json!({"$ref": "a.json"})),
                ("a.json", &a),
                ("b.json", &b)
            ])
            .is_err()
        );
        let b = json!({"properties": {"p": {"$ref": "a.json"}}});
        assert!(
            analyze(&[
                ("", &json!({"$ref": "a.json"})),
                ("a.json", &a),
                ("b.json", &b)
            ])
            .is_ok()
        );
    }
}
