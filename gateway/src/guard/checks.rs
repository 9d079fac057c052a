//! What a pattern match must also pass to count: the Luhn checksum and issuer prefix of a
//! payment card, the IBAN mod-97 checksum and country length, the SSA's rules for a US SSN,
//! an IP address that is not part of a version string (IPv4) or a code path (compressed
//! IPv6), a digits-only phone number next to a word that says so, and the entropy of a random
//! token.

use conf::guard_patterns::Check;

/// Whether `text[s..e]` (a regex match) passes `check`.
pub fn passes(check: Check, text: &[u8], s: usize, e: usize) -> bool {
    let m = &text[s..e];
    match check {
        Check::None => true,
        Check::Card => card(m),
        Check::Iban => iban(m),
        Check::Ssn => ssn(m),
        Check::Ipv4 => ipv4(text, s, e),
        Check::Phone => phone(text, s, e),
        Check::Entropy => entropy(m),
        Check::PemBlock => true,
    }
}

fn digits(m: &[u8]) -> Vec<u8> {
    m.iter()
        .filter(|c| c.is_ascii_digit())
        .map(|c| c - b'0')
        .collect()
}

/// Luhn over 13–19 digits with a card issuer's first digit (2–6).
pub fn card(m: &[u8]) -> bool {
    let d = digits(m);
    if !(13..=19).contains(&d.len()) || !(2..=6).contains(&d[0]) {
        return false;
    }
    luhn(&d)
}

pub fn luhn(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &x) in d.iter().rev().enumerate() {
        let mut v = u32::from(x);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

/// IBAN lengths by country (ISO 13616 registry).
const IBAN_LEN: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("SA", 24),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VG", 24),
    ("XK", 20),
];

/// The mod-97 check of an IBAN (spaces ignored) of its country's length.
pub fn iban(m: &[u8]) -> bool {
    let s: Vec<u8> = m.iter().copied().filter(|c| *c != b' ').collect();
    if s.len() < 15 {
        return false;
    }
    let country = std::str::from_utf8(&s[..2]).unwrap_or("");
    match IBAN_LEN.iter().find(|(c, _)| *c == country) {
        Some((_, len)) if *len == s.len() => {}
        _ => return false,
    }
    let mut rem: u32 = 0;
    for &c in s[4..].iter().chain(&s[..4]) {
        let v = match c {
            b'0'..=b'9' => u32::from(c - b'0'),
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// A US SSN `AAA-GG-SSSS`: area not 000, 666 or 900–999; group not 00; serial not 0000.
pub fn ssn(m: &[u8]) -> bool {
    let d = digits(m);
    if d.len() != 9 {
        return false;
    }
    let area = u32::from(d[0]) * 100 + u32::from(d[1]) * 10 + u32::from(d[2]);
    let group = d[3] * 10 + d[4];
    let serial = d[5..].iter().all(|x| *x == 0);
    area != 0 && area != 666 && area < 900 && group != 0 && !serial
}

/// An IPv4 match counts unless it is part of a longer dotted number (`1.2.3.4.5`) or a version
/// (`v1.2.3.4`, `version 10.0.0.1` still counts: it is a valid address in prose). IPv6 always.
/// Whether one of `words` (lower case) occurs in the `window` bytes before `s`.
fn said_before(text: &[u8], s: usize, window: usize, words: &[&str]) -> bool {
    let before = text[s.saturating_sub(window)..s].to_ascii_lowercase();
    words
        .iter()
        .any(|w| memchr::memmem::find(&before, w.as_bytes()).is_some())
}

/// A digits-only match (`5551234567`) is a phone number only after a word that says so
/// (order numbers and timings look the same); one with separators or `+` always is.
fn phone(text: &[u8], s: usize, e: usize) -> bool {
    if !text[s..e].iter().all(u8::is_ascii_digit) {
        return true;
    }
    const SAID: [&str; 9] = [
        "call", "phone", "tel", "mobile", "cell", "dial", "text me", "sms", "whatsapp",
    ];
    said_before(text, s, 24, &SAID)
}

fn ipv4(text: &[u8], s: usize, e: usize) -> bool {
    let m = &text[s..e];
    if memchr::memmem::find(m, b"::").is_some() {
        // Compressed IPv6: three groups at least (`a::b` is a code path), or the loopback.
        let groups = m.split(|c| *c == b':').filter(|g| !g.is_empty()).count();
        let after_colon = s > 0 && text[s - 1] == b':';
        return !after_colon && groups <= 7 && (groups >= 3 || m == b"::1");
    }
    if m.contains(&b':') {
        return true;
    }
    // A dotted quad after "firmware" or "version" is a version number.
    if said_before(text, s, 48, &["firmware", "version", "release"]) {
        return false;
    }
    let before = s.checked_sub(1).map(|i| text[i]);
    let after = text.get(e).copied();
    let next = text.get(e + 1).copied();
    if matches!(before, Some(b'.') | Some(b'v') | Some(b'V')) {
        return false;
    }
    !(after == Some(b'.') && next.is_some_and(|c| c.is_ascii_digit()))
}

/// A random-looking token: has upper- and lower-case letters and digits, and ≥ 4 bits of
/// Shannon entropy per byte (English words, hex digests and identifiers stay below).
pub fn entropy(m: &[u8]) -> bool {
    let (mut up, mut low, mut dig) = (false, false, false);
    let mut counts = [0u16; 256];
    for &c in m {
        up |= c.is_ascii_uppercase();
        low |= c.is_ascii_lowercase();
        dig |= c.is_ascii_digit();
        counts[c as usize] += 1;
    }
    if !(up && low && dig) {
        return false;
    }
    let n = m.len() as f64;
    let h: f64 = counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum();
    h >= 4.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums() {
        assert!(card(b"4111 1111 1111 1111"));
        assert!(card(b"378282246310005"));
        assert!(!card(b"4111 1111 1111 1112"));
        assert!(!card(b"1234 5678 9012 3452"));
        assert!(iban(b"GB82 WEST 1234 5698 7654 32"));
        assert!(iban(b"DE89370400440532013000"));
        assert!(!iban(b"DE89370400440532013001"));
        assert!(ssn(b"123-45-6789"));
        assert!(!ssn(b"666-45-6789") && !ssn(b"123-00-6789") && !ssn(b"900-12-3456"));
        assert!(entropy(b"aK3x9QpL2mZ7vB8nR4tY6wE1uI0oP5sD"));
        assert!(!entropy(b"this_is_a_long_identifier_name_ok"));
        assert!(!entropy(b"3f786850e387550fdab836ed7e6dc881de23001b"));
        assert!(ipv4(b"host 10.0.0.1 up", 5, 13));
        assert!(!ipv4(b"v1.2.3.4", 1, 8));
        assert!(!ipv4(b"1.2.3.4.5", 0, 7));
    }
}
