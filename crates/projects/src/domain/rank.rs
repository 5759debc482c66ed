//! Ranks: opaque strings whose byte-wise order is the order of tasks in a column, so a move
//! writes one row (the moved task gets a rank between its new neighbours).
//!
//! Invariants: ranks use the digits `0-9a-z` (base 36, ASCII order = digit order), are never
//! all zeros (so there is always room below), and [`between`] returns a rank strictly
//! between its bounds whenever `lower < upper`. Bottom inserts (the common case) count up
//! in the first four digits, so over a million of them keep ranks four characters long;
//! inserts between neighbours grow a rank by about one character per five halvings of a gap.

const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
const BASE: u32 = 36;
/// Open-ended suffixes start here, leaving room on both sides.
const STEP: u32 = 8;
/// Digits bottom inserts count in.
const WIDTH: usize = 4;

fn digit(byte: u8) -> u32 {
    DIGITS.iter().position(|d| *d == byte).unwrap_or(0) as u32
}

/// A rank strictly between `lower` and `upper` (`None`: open end).
pub fn between(lower: Option<&str>, upper: Option<&str>) -> String {
    if upper.is_none() {
        return after(lower.unwrap_or(""));
    }
    let lower = lower.unwrap_or("").as_bytes();
    let upper = upper.map(str::as_bytes);
    let mut result = Vec::new();
    let mut index = 0;
    loop {
        let low = lower.get(index).map_or(0, |byte| digit(*byte));
        let high = match upper {
            Some(upper) => upper.get(index).map_or(BASE, |byte| digit(*byte)),
            None => BASE,
        };
        if high > low + 1 {
            // Room at this position: pick a digit in the gap (a step above `low` when the
            // upper end is open, so appends stay short; the middle otherwise).
            let chosen = if upper.is_none() {
                (low + STEP).min(BASE - 1)
            } else {
                low + (high - low) / 2
            };
            if chosen > low {
                result.push(DIGITS[chosen as usize]);
                return String::from_utf8(result).unwrap_or_default();
            }
        }
        // No room: keep the lower digit and look further.
        result.push(DIGITS[low as usize]);
        if high > low {
            // From here on the upper bound no longer constrains.
            return finish_open(result, &lower[(index + 1).min(lower.len())..]);
        }
        index += 1;
    }
}

/// A rank above `lower` with nothing above it: its first [`WIDTH`] digits plus one.
fn after(lower: &str) -> String {
    if lower.is_empty() {
        // The middle of the space: room above and below.
        return "i000".into();
    }
    let bytes = lower.as_bytes();
    let mut value: u64 = 0;
    for index in 0..WIDTH {
        value = value * u64::from(BASE) + u64::from(bytes.get(index).map_or(0, |b| digit(*b)));
    }
    let limit = u64::from(BASE).pow(WIDTH as u32);
    if value + 1 >= limit {
        return finish_open(Vec::new(), bytes);
    }
    let mut value = value + 1;
    let mut digits = vec![b'0'; WIDTH];
    for slot in digits.iter_mut().rev() {
        *slot = DIGITS[(value % u64::from(BASE)) as usize];
        value /= u64::from(BASE);
    }
    String::from_utf8(digits).unwrap_or_default()
}

/// Appends to `prefix` a suffix strictly above `lower_rest` with no upper bound.
fn finish_open(mut prefix: Vec<u8>, lower_rest: &[u8]) -> String {
    for byte in lower_rest {
        let low = digit(*byte);
        if low + 1 < BASE {
            prefix.push(DIGITS[(low + STEP).min(BASE - 1) as usize]);
            return String::from_utf8(prefix).unwrap_or_default();
        }
        prefix.push(*byte);
    }
    prefix.push(DIGITS[STEP as usize]);
    String::from_utf8(prefix).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(lower: Option<&str>, upper: Option<&str>) -> String {
        let rank = between(lower, upper);
        if let Some(lower) = lower {
            assert!(lower < rank.as_str(), "{lower:?} < {rank:?}");
        }
        if let Some(upper) = upper {
            assert!(rank.as_str() < upper, "{rank:?} < {upper:?}");
        }
        assert!(rank.bytes().any(|b| b != b'0'), "{rank:?} is all zeros");
        rank
    }

    #[test]
    fn ranks_fit_between_any_neighbours() {
        let first = check(None, None);
        let second = check(Some(&first), None);
        check(Some(&first), Some(&second));
        check(None, Some(&first));
        check(Some("a"), Some("b"));
        check(Some("az"), Some("b"));
        check(Some("a"), Some("a1"));
        check(Some("zz"), None);
        check(None, Some("01"));
        check(Some("1"), Some("11"));
    }

    #[test]
    fn repeated_inserts_in_one_gap_stay_ordered() {
        let (mut low, high) = (check(None, None), String::from("z"));
        let mut upper = high.clone();
        for _ in 0..200 {
            let middle = check(Some(&low), Some(&upper));
            if middle.len().is_multiple_of(2) {
                low = middle;
            } else {
                upper = middle;
            }
        }
        let mut bottom = check(None, None);
        for _ in 0..1_000 {
            bottom = check(Some(&bottom), None);
        }
        assert_eq!(bottom.len(), 4, "appends keep four digits: {bottom}");
        assert_eq!(between(Some("zzzz"), None), "zzzz8");
        assert!(high > low);
    }
}
