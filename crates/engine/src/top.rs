//! `top`: the processes of a container, as `ps` shows them on the host.

use std::process::Command;

use crate::error::{Error, Result};

/// Docker's `/containers/{id}/top` result: column titles and one row per process.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopResult {
    pub titles: Vec<String>,
    pub processes: Vec<Vec<String>>,
}

/// Runs `ps` with `ps_args` (Docker's default `-ef`) and keeps the rows of `pids`.
pub fn top(pids: &[i32], ps_args: &str) -> Result<TopResult> {
    let args: Vec<&str> = if ps_args.trim().is_empty() {
        vec!["-ef"]
    } else {
        ps_args.split_whitespace().collect()
    };
    let output = Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| Error::internal(format!("running ps: {e}")))?;
    if !output.status.success() {
        return Err(Error::internal(format!(
            "ps: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    parse(&String::from_utf8_lossy(&output.stdout), pids)
}

/// Parses `ps` output: the header gives the titles and where the PID column is; the last
/// column (the command) keeps its spaces.
fn parse(output: &str, pids: &[i32]) -> Result<TopResult> {
    let mut lines = output.lines();
    let header = lines
        .next()
        .ok_or_else(|| Error::internal("ps printed nothing"))?;
    let titles: Vec<String> = header.split_whitespace().map(str::to_owned).collect();
    let pid_column = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| Error::invalid("Couldn't find PID field in ps output"))?;
    let mut processes = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < titles.len() {
            continue;
        }
        let Ok(pid) = fields[pid_column].parse::<i32>() else {
            continue;
        };
        if !pids.contains(&pid) {
            continue;
        }
        let mut row: Vec<String> = fields[..titles.len() - 1]
            .iter()
            .map(|f| (*f).to_owned())
            .collect();
        row.push(fields[titles.len() - 1..].join(" "));
        processes.push(row);
    }
    Ok(TopResult { titles, processes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_container_pids_and_whole_commands() {
        let out = "UID PID PPID C STIME TTY TIME CMD\nroot 10 1 0 07:00 ? 00:00:00 sleep 100\nroot 11 1 0 07:00 ? 00:00:00 other\n";
        let top = parse(out, &[10]).unwrap();
        assert_eq!(top.titles.len(), 8);
        assert_eq!(
            top.processes,
            vec![vec![
                "root",
                "10",
                "1",
                "0",
                "07:00",
                "?",
                "00:00:00",
                "sleep 100"
            ]]
        );
        assert!(parse("USER COMMAND\nroot x\n", &[1]).is_err());
    }
}
