//! The kgate binary: configuration, wiring, listeners and shutdown.

fn main() {
    println!("kgate");
}
