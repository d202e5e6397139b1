//! The process's file descriptors: how many are open and how many it may open.
//!
//! Every partition holds open files, so a request for a great many partitions could use
//! up the descriptors the listeners need to accept connections (and every other face of
//! the process with them). Topic creation asks here first.

/// A snapshot of the process's descriptors.
#[derive(Debug, Clone, Copy)]
pub struct Descriptors {
    /// Descriptors open now.
    pub open: i64,
    /// The soft limit (RLIMIT_NOFILE).
    pub limit: i64,
}

impl Descriptors {
    /// The current numbers, where the platform tells them (Linux); `None` elsewhere or
    /// when the limit is unlimited.
    pub fn now() -> Option<Descriptors> {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit only writes into the struct it is given.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0
            || limit.rlim_cur == libc::RLIM_INFINITY
        {
            return None;
        }
        // The directory listing itself holds one descriptor while it is read.
        let open = std::fs::read_dir("/proc/self/fd").ok()?.count() as i64 - 1;
        Some(Descriptors {
            open: open.max(0),
            limit: i64::try_from(limit.rlim_cur).unwrap_or(i64::MAX),
        })
    }

    /// Descriptors kept free for connections and everything else the process does: a
    /// tenth of the limit, and at least 256.
    pub fn reserve(&self) -> i64 {
        (self.limit / 10).max(256)
    }

    /// How many more descriptors partitions may take.
    pub fn spare(&self) -> i64 {
        (self.limit - self.open - self.reserve()).max(0)
    }
}
