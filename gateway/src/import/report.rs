//! What an import did, for the operator: per table the rows read, created, updated, unchanged
//! and skipped; every skipped row with its reason; every partial mapping (a field Tollgate does
//! not carry over, a reset time that moves) grouped by topic; and progress lines for large
//! tables. Everything goes to stdout except progress (stderr); `--report FILE` also writes each
//! skipped row and note as one JSON line.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

/// Counts of one table.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counts {
    pub read: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
}

/// One skipped row or partial mapping.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Entry {
    pub table: String,
    pub id: String,
    /// `skipped` (the row was not imported) or `note` (imported, with this caveat).
    pub severity: &'static str,
    pub topic: String,
    pub detail: String,
}

#[derive(Debug, Default)]
pub struct Report {
    tables: BTreeMap<String, Counts>,
    order: Vec<String>,
    entries: Vec<Entry>,
}

impl Report {
    pub fn counts(&mut self, table: &str) -> &mut Counts {
        if !self.tables.contains_key(table) {
            self.order.push(table.to_string());
        }
        self.tables.entry(table.to_string()).or_default()
    }

    /// A row that could not be mapped: reported, never dropped silently.
    pub fn skip(&mut self, table: &str, id: &str, reason: impl Into<String>) {
        self.counts(table).skipped += 1;
        self.entries.push(Entry {
            table: table.to_string(),
            id: id.to_string(),
            severity: "skipped",
            topic: "skipped".to_string(),
            detail: reason.into(),
        });
    }

    /// A row imported with a caveat; `topic` groups the same caveat across rows.
    pub fn note(
        &mut self,
        table: &str,
        id: &str,
        topic: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.entries.push(Entry {
            table: table.to_string(),
            id: id.to_string(),
            severity: "note",
            topic: topic.into(),
            detail: detail.into(),
        });
    }

    /// Rows created or updated, over every table.
    pub fn changes(&self) -> u64 {
        self.tables.values().map(|c| c.created + c.updated).sum()
    }

    pub fn skipped(&self) -> u64 {
        self.tables.values().map(|c| c.skipped).sum()
    }

    /// The summary printed at the end.
    pub fn render(&self, dry_run: bool) -> String {
        let mut out = String::new();
        let verb = if dry_run { "would be " } else { "" };
        out.push_str(&format!(
            "{:<34} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
            "table", "read", "created", "updated", "unchanged", "skipped"
        ));
        for t in &self.order {
            let c = self.tables[t];
            out.push_str(&format!(
                "{:<34} {:>9} {:>9} {:>9} {:>9} {:>9}\n",
                t, c.read, c.created, c.updated, c.unchanged, c.skipped
            ));
        }
        let skipped: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.severity == "skipped")
            .collect();
        if self.skipped() > 0 {
            out.push_str(&format!(
                "\n{} rows {verb}skipped (not imported):\n",
                self.skipped()
            ));
            for e in skipped {
                out.push_str(&format!("  {} {}: {}\n", e.table, e.id, e.detail));
            }
        }
        let mut groups: BTreeMap<(&str, &str), Vec<&Entry>> = BTreeMap::new();
        for e in self.entries.iter().filter(|e| e.severity == "note") {
            groups.entry((&e.table, &e.topic)).or_default().push(e);
        }
        if !groups.is_empty() {
            out.push_str("\nimported with caveats:\n");
            for ((table, topic), es) in groups {
                out.push_str(&format!("  {table}: {topic} ({} rows)\n", es.len()));
                for e in es.iter().take(5) {
                    out.push_str(&format!("    {}: {}\n", e.id, e.detail));
                }
                if es.len() > 5 {
                    out.push_str(&format!(
                        "    … and {} more (--report FILE lists all)\n",
                        es.len() - 5
                    ));
                }
            }
        }
        out.push('\n');
        if dry_run {
            out.push_str(&format!(
                "dry run: nothing written; {} rows would change\n",
                self.changes()
            ));
        } else if self.changes() == 0 {
            out.push_str(
                "nothing to change: Tollgate's store already matches the LiteLLM database\n",
            );
        } else {
            out.push_str(&format!("{} rows written\n", self.changes()));
        }
        out
    }

    /// Every skipped row and note as JSON lines.
    pub fn write_jsonl(&self, path: &std::path::Path) -> std::io::Result<()> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        for e in &self.entries {
            serde_json::to_writer(&mut f, e)?;
            f.write_all(b"\n")?;
        }
        f.flush()
    }
}

/// Progress of reading one large table, on stderr: at most one line a second, and only for
/// tables of more than `QUIET` rows.
pub struct Progress {
    table: String,
    total: i64,
    done: i64,
    last: Instant,
}

const QUIET: i64 = 2_000;

impl Progress {
    pub fn new(table: &str, total: i64) -> Progress {
        if total > QUIET {
            eprintln!("{table}: reading {total} rows");
        }
        Progress {
            table: table.to_string(),
            total,
            done: 0,
            last: Instant::now(),
        }
    }

    pub fn tick(&mut self) {
        self.done += 1;
        if self.total > QUIET && self.last.elapsed() >= Duration::from_secs(1) {
            self.last = Instant::now();
            eprintln!(
                "{}: {}/{} ({}%)",
                self.table,
                self.done,
                self.total,
                self.done * 100 / self.total.max(1)
            );
        }
    }

    pub fn finish(&self) {
        if self.total > QUIET {
            eprintln!("{}: {} rows read", self.table, self.done);
        }
    }
}
