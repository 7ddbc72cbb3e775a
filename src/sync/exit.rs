//! rsync's exit codes in plain words.

/// What an rsync exit code means for the operator.
pub fn describe(code: Option<i32>) -> String {
    let Some(code) = code else {
        return "rsync was killed by a signal".into();
    };
    match code {
        0 => "success",
        1 => "syntax or usage error (an okmirror bug, or an unsupported rsync option)",
        2 => "protocol incompatibility between the two rsync versions",
        3 => "errors selecting input/output files or dirs (a path is missing?)",
        5 => "error starting the client-server protocol",
        10 => "error in socket I/O",
        11 => "error in file I/O (disk full or unwritable target?)",
        12 => "error in the rsync data stream (often: the SSH connection between the nodes died)",
        20 => "rsync received SIGUSR1 or SIGINT (cancelled)",
        23 => "partial transfer: some files could not be transferred (permissions, I/O errors)",
        24 => "some source files vanished during the transfer (normal while the main is live)",
        25 => "stopped at the --max-delete limit: nothing more was deleted",
        30 => "timeout in data send/receive",
        35 => "timeout waiting for the rsync daemon connection",
        255 => {
            "ssh between the nodes failed (host key, authentication, or the target is unreachable)"
        }
        other => return format!("rsync failed with exit code {other}"),
    }
    .to_string()
}

/// True when the run achieved what it set out to do (24 only on a live source).
pub fn is_success(code: Option<i32>, live_source: bool) -> bool {
    code == Some(0) || (live_source && code == Some(24))
}
