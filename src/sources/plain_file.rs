//! `source-type: file`: one file, copied into the source directory under
//! its base name.
//!
//! As in craft-parts, a local file keeps its mode (`shutil.copy2`) and a
//! downloaded one is 0644 (`requests` writing a new file). The name of a
//! downloaded file is the last segment of the URL's path (craft-parts takes
//! the last `/`-separated part of the whole URL, query string included).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::error::{SourceError, io_err};

/// The base name a `file` source is stored under, from its location.
pub fn file_name(part: &str, location: &str, is_url: bool) -> Result<String, SourceError> {
    let name = if is_url {
        reqwest::Url::parse(location)
            .ok()
            .and_then(|u| u.path_segments().and_then(|mut s| s.next_back().map(str::to_owned)))
            .unwrap_or_default()
    } else {
        Path::new(location).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    };
    if name.is_empty() || name == "." || name == ".." {
        return Err(SourceError::NoFileName { part: part.to_owned(), location: location.to_owned() });
    }
    Ok(name)
}

/// Copies `from` to `dest/name`; `keep_mode` keeps `from`'s mode, else 0644.
pub fn copy_into(from: &Path, dest: &Path, name: &str, keep_mode: bool) -> Result<(), SourceError> {
    let to = dest.join(name);
    fs::copy(from, &to).map_err(io_err(&to))?;
    if !keep_mode {
        fs::set_permissions(&to, fs::Permissions::from_mode(0o644)).map_err(io_err(&to))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_name_comes_from_the_path_or_the_url_path() {
        assert_eq!(file_name("p", "files/tool.sh", false).unwrap(), "tool.sh");
        assert_eq!(file_name("p", "https://example.com/dl/tool-1.0.bin?token=x", true).unwrap(), "tool-1.0.bin");
        let err = file_name("p", "https://example.com/", true).unwrap_err();
        assert_eq!(
            err.to_string(),
            "part 'p': cannot tell a file name from 'https://example.com/'; give a URL that ends in the file's name"
        );
    }
}
