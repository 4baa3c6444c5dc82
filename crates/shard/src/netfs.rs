//! Detecting network filesystems, where SQLite's locks cannot be trusted.
//!
//! On Linux the mount holding a path is the longest mount point in
//! `/proc/self/mountinfo` that prefixes the path's canonical form; its
//! filesystem type names the kind of filesystem. Elsewhere nothing is
//! detected.

use std::path::Path;

/// Filesystem types (as `mountinfo` names them) that are network mounts.
const NETWORK: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb",
    "smb2",
    "smb3",
    "smbfs",
    "ncpfs",
    "afs",
    "9p",
    "coda",
    "ceph",
    "glusterfs",
    "lustre",
    "gpfs",
    "fuse.sshfs",
    "fuse.s3fs",
    "fuse.rclone",
    "davfs",
    "fuse.glusterfs",
    "beegfs",
    "ocfs2",
    "gfs2",
];

/// The network filesystem type holding `dir`, if it is on one.
pub(crate) fn network_fs(dir: &Path) -> Option<String> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let fs_type = mount_type(&table, dir)?;
    is_network(&fs_type).then_some(fs_type)
}

fn is_network(fs_type: &str) -> bool {
    NETWORK.contains(&fs_type)
}

/// The filesystem type of the mount that holds `path`, from the text of a
/// `mountinfo` table.
fn mount_type(table: &str, path: &Path) -> Option<String> {
    let mut best: Option<(usize, String)> = None;
    for line in table.lines() {
        // Fields: id parent major:minor root mount-point options [optional…] - type source super
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (Some(mount), Some(sep)) = (fields.get(4), fields.iter().position(|f| *f == "-"))
        else {
            continue;
        };
        let Some(fs_type) = fields.get(sep + 1) else {
            continue;
        };
        let mount = unescape(mount);
        if path.starts_with(&mount) {
            let len = mount.len();
            if best.as_ref().is_none_or(|(l, _)| len >= *l) {
                best = Some((len, (*fs_type).to_string()));
            }
        }
    }
    best.map(|(_, t)| t)
}

/// `mountinfo` escapes space, tab, newline and backslash as octal.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            if let Ok(code) = u8::from_str_radix(&field[i + 1..i + 4], 8) {
                out.push(code);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 22 0:35 / /mnt/share rw,relatime shared:20 - nfs4 server:/export rw,vers=4.2
41 40 0:36 / /mnt/share/local rw,relatime - tmpfs tmpfs rw
42 22 0:37 / /mnt/my\\040docs rw - cifs //host/docs rw
";

    #[test]
    fn longest_mount_wins() {
        assert_eq!(
            mount_type(TABLE, Path::new("/home/x")).as_deref(),
            Some("ext4")
        );
        assert_eq!(
            mount_type(TABLE, Path::new("/mnt/share/c")).as_deref(),
            Some("nfs4")
        );
        assert_eq!(
            mount_type(TABLE, Path::new("/mnt/share/local/c")).as_deref(),
            Some("tmpfs")
        );
        assert_eq!(
            mount_type(TABLE, Path::new("/mnt/my docs/c")).as_deref(),
            Some("cifs")
        );
        assert_eq!(
            mount_type(TABLE, Path::new("/mnt/shared")).as_deref(),
            Some("ext4")
        );
    }

    #[test]
    fn network_types_are_recognised() {
        assert!(is_network("nfs4"));
        assert!(is_network("cifs"));
        assert!(!is_network("ext4"));
        assert!(!is_network("tmpfs"));
    }

    #[test]
    fn local_temp_dir_is_not_network() {
        assert_eq!(network_fs(&std::env::temp_dir()), None);
    }
}
