//! Slugs: the path segment after `/l/`. Generated ones are [`GENERATED_LENGTH`] base62
//! characters drawn from the operating system's random source without modulo bias (about 65
//! bits: unguessable); custom ones are 3 to 64 characters of `A-Z a-z 0-9 - _`.

/// The alphabet of generated slugs.
pub const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Length of a generated slug.
pub const GENERATED_LENGTH: usize = 11;

/// Why a custom slug is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    /// Too short or too long.
    #[error("a slug is 3 to 64 characters")]
    Length,
    /// A character outside `A-Z a-z 0-9 - _`.
    #[error("a slug uses only A-Z, a-z, 0-9, '-' and '_'")]
    Character,
    /// The operating system's random source failed.
    #[error("the random source failed")]
    Random,
}

/// A new random slug.
pub fn generate() -> Result<String, SlugError> {
    let mut slug = String::with_capacity(GENERATED_LENGTH);
    let mut pool = [0_u8; 32];
    while slug.len() < GENERATED_LENGTH {
        getrandom::fill(&mut pool).map_err(|_| SlugError::Random)?;
        // 248 = 4 × 62: bytes at or above it are dropped, so every character is equally likely.
        for byte in pool.iter().filter(|byte| **byte < 248) {
            if slug.len() == GENERATED_LENGTH {
                break;
            }
            slug.push(char::from(ALPHABET[usize::from(*byte % 62)]));
        }
    }
    Ok(slug)
}

/// Checks a custom slug.
pub fn custom(slug: &str) -> Result<&str, SlugError> {
    if !(3..=64).contains(&slug.len()) {
        return Err(SlugError::Length);
    }
    if !slug
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    {
        return Err(SlugError::Character);
    }
    Ok(slug)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn generated_slugs_have_the_promised_length_and_alphabet_and_do_not_repeat() {
        let slugs: Vec<String> = (0..2_000).map(|_| generate().unwrap()).collect();
        for slug in &slugs {
            assert_eq!(slug.len(), GENERATED_LENGTH, "{slug}");
            assert!(slug.bytes().all(|b| ALPHABET.contains(&b)), "{slug}");
        }
        assert_eq!(slugs.iter().collect::<HashSet<_>>().len(), slugs.len());
        // Every character of the alphabet turns up (22,000 draws, each ~1/62).
        let seen: HashSet<u8> = slugs.iter().flat_map(|s| s.bytes()).collect();
        assert_eq!(seen.len(), ALPHABET.len());
    }

    #[test]
    fn custom_slugs_are_checked() {
        assert_eq!(custom("q3-review_2"), Ok("q3-review_2"));
        assert_eq!(custom("ab"), Err(SlugError::Length));
        assert_eq!(custom(&"a".repeat(65)), Err(SlugError::Length));
        for bad in ["../etc", "a b c", "abc/def", "sl%C3ug", "émoji", "a\nb"] {
            assert!(custom(bad).is_err(), "{bad}");
        }
    }
}
