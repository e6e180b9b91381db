//! A disk the tests control: an ext4 image on a loop device, mounted at a fixed mountpoint
//! (so a state directory on it keeps its path when the disk is swapped). Its power can be
//! cut ([`PowerDisk::cut`]: what a power cut leaves is the image as the kernel has it, never
//! a write that sits only in the page cache) and it can be filled up. Needs root and
//! `/dev/loop-control`; [`PowerDisk::new`] says what is missing otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::TestGateway;

/// A disk whose power can be cut (see the module docs): an ext4 image on a loop device,
/// mounted at a fixed mountpoint so the state directory keeps its path across cuts.
pub struct PowerDisk {
    /// Holds the images and the mountpoint.
    root: tempfile::TempDir,
    mnt: PathBuf,
    image: PathBuf,
    /// `/dev/loopN`, while attached.
    loopdev: Option<String>,
    mounted: bool,
    cuts: u32,
}

/// Runs a command; `Err` names it, its exit and its stderr.
fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "{program} {args:?}: {} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl PowerDisk {
    /// Makes, attaches and mounts a fresh ext4 image; `Err` says what is missing.
    pub fn new(bytes: u64) -> Result<Self, String> {
        if !Path::new("/dev/loop-control").exists() {
            return Err("/dev/loop-control does not exist".into());
        }
        let root = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mnt = root.path().join("mnt");
        std::fs::create_dir(&mnt).map_err(|e| e.to_string())?;
        let image = root.path().join("disk-0.img");
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(bytes))
            .map_err(|e| e.to_string())?;
        let image_s = image.display().to_string();
        // Inode tables and the journal are written now, not by a background thread while an
        // image is copied.
        run(
            "mkfs.ext4",
            &[
                "-q",
                "-F",
                "-E",
                "lazy_itable_init=0,lazy_journal_init=0",
                &image_s,
            ],
        )?;
        let mut disk = Self {
            root,
            mnt,
            image,
            loopdev: None,
            mounted: false,
            cuts: 0,
        };
        disk.attach()?;
        Ok(disk)
    }

    /// [`Self::new`] for `test`, or `None` after a loud message when this machine cannot
    /// (not root, no loop device), except under `CI=true` (or with `OPENCLAW_SOAK_POWER`
    /// set), where that fails the test: CI runs as root on a machine with loop devices.
    pub fn for_test(bytes: u64, test: &str) -> Option<Self> {
        match Self::new(bytes) {
            Ok(d) => Some(d),
            Err(why) => {
                let required = std::env::var("CI").as_deref() == Ok("true")
                    || std::env::var_os("OPENCLAW_SOAK_POWER").is_some_and(|v| v != "0");
                assert!(
                    !required,
                    "{test} needs root and a loop device, and CI=true (or OPENCLAW_SOAK_POWER) requires it: {why}"
                );
                eprintln!("SKIPPED: {test} needs root and a loop device: {why}");
                None
            }
        }
    }

    /// Attaches `self.image` and mounts it. `commit=600`: the journal commits when a file is
    /// synced, not on a 5 s timer, so what is on the "disk" at a cut is what the gateway
    /// synced (plus the kernel's own writeback, as on any machine).
    fn attach(&mut self) -> Result<(), String> {
        let image = self.image.display().to_string();
        let dev = run("losetup", &["-f", "--show", &image])?;
        self.loopdev = Some(dev.clone());
        let mnt = self.mnt.display().to_string();
        run("mount", &["-t", "ext4", "-o", "commit=600", &dev, &mnt])?;
        self.mounted = true;
        Ok(())
    }

    /// Unmounts and detaches (the page cache of the old disk goes with it).
    fn detach(&mut self) -> Result<(), String> {
        if self.mounted {
            run("umount", &[&self.mnt.display().to_string()])?;
            self.mounted = false;
        }
        if let Some(dev) = self.loopdev.take() {
            run("losetup", &["-d", &dev])?;
        }
        Ok(())
    }

    /// A fresh state directory on the disk.
    pub fn state_dir(&self) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix("state")
            .tempdir_in(&self.mnt)
            .expect("state directory on the power-cut disk")
    }

    /// Fills the file system to the last block (the tests run as root, so the blocks ext4
    /// keeps for root go too) with `<mnt>/filler`, synced; returns its path.
    pub fn fill(&self) -> PathBuf {
        use std::io::Write as _;
        let path = self.mnt.join("filler");
        let mut f = std::fs::File::create(&path).expect("create the filler");
        for size in [1 << 20, 64 << 10, 4 << 10, 512, 1] {
            let chunk = vec![0xA5u8; size];
            loop {
                match f.write(&chunk) {
                    Ok(n) if n == size => {}
                    Ok(_) => break,
                    Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                    Err(e) => panic!("fill the disk: {e}"),
                }
            }
        }
        f.sync_all().expect("sync the filler");
        path
    }

    /// Syncs the whole file system (`syncfs`).
    pub fn sync(&self) {
        run("sync", &["-f", &self.mnt.display().to_string()])
            .unwrap_or_else(|e| panic!("sync the power-cut disk: {e}"));
    }

    /// Cuts the power under `gw`: stops it, copies the image as the kernel has it, kills
    /// it and mounts the copy in place of the disk.
    pub fn cut(&mut self, gw: TestGateway) {
        let pid = gw.pid();
        gw.signal("STOP");
        // Every thread parked: a sync that was running has returned, none starts.
        super::retry_until(Duration::from_secs(10), "the gateway stopped", || {
            all_threads_stopped(pid).then_some(())
        });
        self.cuts += 1;
        let next = self.root.path().join(format!("disk-{}.img", self.cuts));
        run(
            "cp",
            &[
                "--sparse=always",
                &self.image.display().to_string(),
                &next.display().to_string(),
            ],
        )
        .unwrap_or_else(|e| panic!("copy the disk image: {e}"));
        drop(gw); // SIGKILL, reaped
        self.detach()
            .unwrap_or_else(|e| panic!("unmount the old disk: {e}"));
        let _ = std::fs::remove_file(&self.image);
        self.image = next;
        self.attach()
            .unwrap_or_else(|e| panic!("mount the disk as the power cut left it: {e}"));
    }
}

impl Drop for PowerDisk {
    fn drop(&mut self) {
        if let Err(e) = self.detach() {
            eprintln!("power-cut disk: {e}");
        }
    }
}

/// Whether every thread of `pid` is stopped (`T` in `/proc/PID/task/*/stat`).
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut any = false;
    for t in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(t.path().join("stat")) else {
            return false;
        };
        // `pid (comm) S …`: the state follows the last `)`.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next());
        if !matches!(state, Some('T' | 't')) {
            return false;
        }
        any = true;
    }
    any
}
