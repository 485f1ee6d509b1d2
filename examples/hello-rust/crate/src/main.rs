//! hello-rust prints a greeting with its package name and version.

fn main() {
    println!("hello from {} {}, built with the rust plugin", env!("CARGO_PKG_NAME"), env!("CARGO_PKG_VERSION"));
}
