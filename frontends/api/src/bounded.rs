//! Reading a spec file without trusting its size: every frontend's reader
//! refuses files past its limit, and must not read a huge one whole first.

/// Reads the text file at `path`, but at most `max + 1` bytes: a larger
/// file comes back cut (and is then refused by the reader's size limit)
/// instead of being read whole into memory.
pub fn read_bounded(path: &std::path::Path, max: usize) -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(max as u64 + 1).read_to_end(&mut bytes)?;
    if bytes.len() > max {
        return Ok(String::from_utf8_lossy(&bytes).into_owned());
    }
    String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}
