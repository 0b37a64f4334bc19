// A growable function table, so `table:<n>` meets the host's limits rather
// than the table's declared maximum.
fn main() {
    println!("cargo:rustc-link-arg=--growable-table");
}
