//! "Did you mean …?": the closest known key to a misspelled one, by edit distance (optimal
//! string alignment: insertions, deletions, substitutions and swaps of neighbours each cost 1),
//! compared without regard to ASCII case.

/// Edit distance between `a` and `b` (ASCII case ignored); an adjacent swap (`kye`/`key`) is 1.
pub(crate) fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let (n, m) = (a.len(), b.len());
    // Three rows: i-2, i-1, i.
    let mut prev2 = vec![0usize; m + 1];
    let mut prev: Vec<usize> = (0..=m).collect();
    let mut cur = vec![0usize; m + 1];
    for i in 1..=n {
        cur[0] = i;
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[m]
}

/// How far a key may be from a known one and still count as a misspelling of it: 1 edit for
/// short keys, 2 up to 10 characters, 3 beyond.
pub(crate) fn max_distance(key: &str) -> usize {
    match key.chars().count() {
        0..=4 => 1,
        5..=10 => 2,
        _ => 3,
    }
}

/// The known key closest to `key`, if it is close enough to be a misspelling (and is not `key`
/// itself). Ties go to the first candidate.
pub fn closest<'a>(key: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = max_distance(key);
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c == key {
            continue;
        }
        let d = distance(key, c);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// ` (did you mean `x`?)`, or nothing.
pub(crate) fn hint<'a>(key: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    match closest(key, candidates) {
        Some(c) => format!(" (did you mean `{c}`?)"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("abc", ""), 3);
        assert_eq!(distance("genral_settings", "general_settings"), 1);
        assert_eq!(distance("api_kye", "api_key"), 1, "a swap is one edit");
        assert_eq!(distance("Master_Key", "master_key"), 0, "case is ignored");
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("ca", "abc"), 3, "OSA, not full Damerau");
    }

    #[test]
    fn closest_known_key_within_the_limit() {
        let keys = [
            "general_settings",
            "litellm_settings",
            "router_settings",
            "model_list",
        ];
        assert_eq!(closest("genral_settings", keys), Some("general_settings"));
        assert_eq!(closest("routr_setings", keys), Some("router_settings"));
        assert_eq!(closest("model_lsit", keys), Some("model_list"));
        assert_eq!(closest("something_else", keys), None);
        assert_eq!(closest("general_settings", keys), None, "the key itself");
        assert_eq!(
            hint("lite_llm_settings", keys),
            " (did you mean `litellm_settings`?)"
        );
        assert_eq!(hint("xyz", keys), "");
        // Short keys get one edit only.
        assert_eq!(closest("tpm", ["rpm", "tpm_limit"]), Some("rpm"));
        assert_eq!(closest("ab", ["xy"]), None);
    }
}
