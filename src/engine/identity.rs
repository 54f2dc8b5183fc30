//! Who a key belongs to. The maker-checker rule is only as strong as the test "are these two
//! owners one person?", so an owner is an identity, not a string:
//!
//! - at key creation the name is normalized (Unicode NFKC, lower case, trimmed, inner whitespace
//!   collapsed) and refused when it holds invisible or control characters, symbols, a mix of
//!   scripts that can imitate another name (UTS #39 restriction level above "highly
//!   restrictive"), or the name of harepay's own actors;
//! - everywhere owners are compared (self-approval, a person's spend across keys) they are
//!   compared by their confusable skeleton (UTS #39), so `alice`, `ALICE`, `ａｌｉｃｅ` and a
//!   Cyrillic `аlice` are one person.
//!
//! Comparing by skeleton also covers owners stored before names were validated: the skeleton
//! drops what cannot be seen before it maps look-alikes.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use unicode_security::{GeneralSecurityProfile, RestrictionLevel, RestrictionLevelDetection};

use crate::limits::OWNER_MAX_CHARS;

/// Punctuation an owner name may hold besides letters, digits and single spaces: enough for
/// e-mail addresses and service names (`billing-bot`, `ada.obi@example.com`).
const OWNER_PUNCTUATION: [char; 6] = ['-', '_', '.', '@', '\'', '+'];

/// Names harepay's own actors use in the audit log; no key may carry one (or a look-alike).
pub const RESERVED_OWNER_NAMES: [&str; 3] = ["harepay", "system", "operator"];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OwnerNameError {
    #[error("the owner name is empty")]
    Empty,
    #[error("the owner name is longer than {OWNER_MAX_CHARS} characters")]
    TooLong,
    #[error("the owner name holds an invisible or control character (U+{code_point:04X}); type the name plainly")]
    Invisible { code_point: u32 },
    #[error("the owner name holds U+{code_point:04X}, which is not a letter, a digit, a space or one of - _ . @ ' +")]
    Symbol { code_point: u32 },
    #[error(
        "the owner name mixes scripts in a way that can imitate another name (e.g. a Cyrillic letter among Latin ones); use one script"
    )]
    MixedScript,
    #[error(
        "the owner name holds a combining mark (U+{code_point:04X}) that does not join its letter and can hide a look-alike; type the accented letter itself"
    )]
    LooseMark { code_point: u32 },
    #[error("{name:?} is reserved for harepay's own actors (or looks like one); choose another owner name")]
    Reserved { name: &'static str },
}

/// Normalizes a new key's owner name, or says why it cannot be an owner.
pub fn normalize_owner_name(raw: &str) -> Result<String, OwnerNameError> {
    for character in raw.chars() {
        if is_invisible(character) {
            return Err(OwnerNameError::Invisible { code_point: u32::from(character) });
        }
    }
    let folded = fold_case(raw);
    let normalized = folded.split_whitespace().collect::<Vec<_>>().join(" ");
    if normalized.is_empty() {
        return Err(OwnerNameError::Empty);
    }
    if normalized.chars().count() > OWNER_MAX_CHARS {
        return Err(OwnerNameError::TooLong);
    }
    for character in normalized.chars() {
        if is_invisible(character) {
            return Err(OwnerNameError::Invisible { code_point: u32::from(character) });
        }
        if !(character == ' ' || OWNER_PUNCTUATION.contains(&character) || character.identifier_allowed()) {
            return Err(OwnerNameError::Symbol { code_point: u32::from(character) });
        }
    }
    // A mark left over after composition sits on a letter that has no accented form, where it
    // can be invisible (a dot above `i`).
    if let Some(mark) = normalized.chars().find(|c| is_combining_mark(*c)) {
        return Err(OwnerNameError::LooseMark { code_point: u32::from(mark) });
    }
    // One script (Han with Hiragana or Hangul counts as one): Latin mixed with Han can imitate
    // punctuation (`一` for `-`, `丨` for `l`).
    let letters_and_digits: String =
        normalized.chars().filter(|c| *c != ' ' && !OWNER_PUNCTUATION.contains(c)).collect();
    if !letters_and_digits.as_str().check_restriction_level(RestrictionLevel::SingleScript) {
        return Err(OwnerNameError::MixedScript);
    }
    let skeleton = owner_skeleton(&normalized);
    if let Some(name) = RESERVED_OWNER_NAMES.into_iter().find(|name| owner_skeleton(name) == skeleton) {
        return Err(OwnerNameError::Reserved { name });
    }
    Ok(normalized)
}

/// The form two owners are compared in: what cannot be seen dropped, NFKC, lower case, accents
/// and other combining marks dropped, then the UTS #39 confusable skeleton. Equal skeletons mean
/// one person: `jürgen` and `jurgen` compare equal too, on purpose (a checker must be someone
/// clearly else).
pub fn owner_skeleton(owner: &str) -> String {
    let visible: String = owner.chars().filter(|c| !c.is_whitespace() && !is_invisible(*c)).collect();
    let unmarked: String = fold_case(&visible).nfd().filter(|c| !is_combining_mark(*c)).collect();
    let skeleton: String = unicode_security::skeleton(&unmarked).collect();
    // The skeleton may map into upper case, compatibility forms or marks; fold once more.
    fold_case(&skeleton).nfd().filter(|c| !is_combining_mark(*c)).collect()
}

/// NFKC and lower case, with the Turkish dotted capital I read as `i` (its lower case is `i`
/// plus a combining dot above, which renders as a plain `i`).
fn fold_case(text: &str) -> String {
    let dotless_capital: String = text.chars().map(|c| if c == 'İ' { 'I' } else { c }).collect();
    dotless_capital.nfkc().collect::<String>().to_lowercase().nfkc().collect()
}

/// Whether two owner names name one person.
pub fn same_owner(left: &str, right: &str) -> bool {
    owner_skeleton(left) == owner_skeleton(right)
}

/// Control characters and the format characters that render as nothing: zero-width spaces and
/// joiners, bidirectional controls, the word joiner and invisible operators, soft hyphens,
/// variation selectors, tag characters, the byte-order mark.
fn is_invisible(character: char) -> bool {
    character.is_control()
        || matches!(
            u32::from(character),
            0x00AD
                | 0x034F
                | 0x061C
                | 0x115F..=0x1160
                | 0x17B4..=0x17B5
                | 0x180B..=0x180F
                | 0x200B..=0x200F
                | 0x202A..=0x202E
                | 0x2060..=0x206F
                | 0x3164
                | 0xFE00..=0xFE0F
                | 0xFEFF
                | 0xFFA0
                | 0xFFF0..=0xFFFB
                | 0x1BCA0..=0x1BCA3
                | 0x1D173..=0x1D17A
                | 0xE0000..=0xE0FFF
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalized() {
        assert_eq!(normalize_owner_name("  Alice   Obi ").unwrap(), "alice obi");
        assert_eq!(normalize_owner_name("ＡＬＩＣＥ").unwrap(), "alice");
        assert_eq!(normalize_owner_name("Ada.Obi@Example.com").unwrap(), "ada.obi@example.com");
        assert_eq!(normalize_owner_name("billing-bot_2").unwrap(), "billing-bot_2");
        assert_eq!(normalize_owner_name("Jürgen").unwrap(), "jürgen");
        assert_eq!(normalize_owner_name("Дмитрий").unwrap(), "дмитрий");
        assert_eq!(normalize_owner_name("山田太郎").unwrap(), "山田太郎");
        assert_eq!(normalize_owner_name("やまだ太郎").unwrap(), "やまだ太郎", "Japanese mixes Han and kana");
        assert_eq!(normalize_owner_name("ALİCE").unwrap(), "alice", "the Turkish dotted capital I is an i");
    }

    #[test]
    fn invisible_symbolic_mixed_and_reserved_names_are_refused() {
        let refused = |raw: &str| normalize_owner_name(raw).unwrap_err();
        assert_eq!(refused("ali\u{200B}ce"), OwnerNameError::Invisible { code_point: 0x200B });
        assert_eq!(refused("alice\u{202E}"), OwnerNameError::Invisible { code_point: 0x202E });
        assert_eq!(refused("al\u{00AD}ice"), OwnerNameError::Invisible { code_point: 0x00AD });
        assert_eq!(refused("alice\n"), OwnerNameError::Invisible { code_point: 0x0A });
        assert_eq!(refused("alice\u{E0041}"), OwnerNameError::Invisible { code_point: 0xE0041 });
        assert_eq!(refused("ali☃ce"), OwnerNameError::Symbol { code_point: 0x2603 });
        // A Cyrillic "а" among Latin letters.
        assert_eq!(refused("\u{0430}lice"), OwnerNameError::MixedScript);
        assert_eq!(refused("   "), OwnerNameError::Empty);
        assert_eq!(refused(&"a".repeat(OWNER_MAX_CHARS + 1)), OwnerNameError::TooLong);
        assert_eq!(refused("HarePay"), OwnerNameError::Reserved { name: "harepay" });
        assert_eq!(refused("ali\u{0307}ce"), OwnerNameError::LooseMark { code_point: 0x0307 });
        assert_eq!(refused("demo\u{4E00}maker"), OwnerNameError::MixedScript, "a Han letter for a hyphen");
        assert_eq!(refused("a\u{4E28}ice"), OwnerNameError::MixedScript, "a Han letter for an l");
        assert_eq!(refused("ｓｙｓｔｅｍ"), OwnerNameError::Reserved { name: "system" });
    }

    #[test]
    fn look_alike_owners_are_one_person() {
        for look_alike in
            ["Alice", " alice ", "ali\u{200B}ce", "ＡＬＩＣＥ", "\u{0430}lice", "a l i c e", "alıce", "ALICE\u{FE0F}"]
        {
            assert!(same_owner("alice", look_alike), "{look_alike:?} should be alice");
        }
        assert!(same_owner("demo-maker", "dеmо-mаkеr"), "whole Cyrillic look-alike");
        assert!(!same_owner("alice", "bob"));
        assert!(!same_owner("alice", "alicia"));
    }
}
