//! The subscriber's email address: parsed once, at the edge, into a type that is always valid,
//! with the key duplicates are found on.

use email_address::{EmailAddress, Options};
use std::fmt;

/// RFC 5321's limit on a forward path, in octets (UTF-8 bytes, as it travels).
pub const MAX_EMAIL_LEN: usize = 254;

/// Why an address was refused; `Display` is the message the visitor sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvalidEmail {
    #[error("Please enter your email address.")]
    Missing,
    #[error("That email address is too long (at most 254 characters).")]
    TooLong,
    #[error("Please enter a valid email address, like name@example.com.")]
    Malformed,
}

/// A valid address as the visitor typed it (trimmed), and its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberEmail {
    typed: String,
    key: String,
}

impl SubscriberEmail {
    pub fn parse(input: &str) -> Result<Self, InvalidEmail> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(InvalidEmail::Missing);
        }
        if trimmed.len() > MAX_EMAIL_LEN {
            return Err(InvalidEmail::TooLong);
        }
        // A newsletter needs a deliverable address: a dotted domain name, no "Name <a@b>" display
        // form, no [IP] literal.
        let options = Options::default()
            .with_required_tld()
            .without_display_text()
            .without_domain_literal();
        EmailAddress::parse_with_options(trimmed, options).map_err(|_| InvalidEmail::Malformed)?;
        let key = key::of(trimmed)?;
        // The ASCII form of the domain (what mail servers are given) can be the longer one.
        if key.len() > MAX_EMAIL_LEN {
            return Err(InvalidEmail::TooLong);
        }
        Ok(Self {
            key,
            typed: trimmed.to_owned(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.typed
    }

    /// The key duplicates are detected on: the same mailbox typed with different letter case, in
    /// another Unicode normalization form, or with its domain in Unicode or in IDNA's ASCII form
    /// is one subscriber. (Local parts are case-sensitive in theory, never in practice.)
    pub fn normalized(&self) -> String {
        self.key.clone()
    }

    /// The key of an already valid address. The key is only ever compared, never mailed: it need
    /// not be a valid address itself (NFC can lengthen a local part past 64 octets, or turn
    /// U+037E into `;`), but it is a fixed point — the key of a key is the key.
    pub fn key_of(address: &str) -> Result<String, InvalidEmail> {
        key::of(address)
    }
}

/// Only the server stores addresses, so only it carries the Unicode tables the key needs.
#[cfg(feature = "ssr")]
mod key {
    use super::InvalidEmail;
    use icu_normalizer::ComposingNormalizerBorrowed;
    use icu_properties::{props::GeneralCategory, CodePointMapData};

    /// Invisible or line-breaking characters (control, format — zero-width, bidi overrides —, line
    /// and paragraph separators) make an address that looks like another one, or breaks headers.
    fn is_invisible(c: char) -> bool {
        matches!(
            CodePointMapData::<GeneralCategory>::new().get(c),
            GeneralCategory::Control
                | GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
    }

    /// `local@domain` → the local part lower-cased in NFC, `@`, the domain's IDNA ASCII form
    /// (letters, digits and hyphens per label; anything else refuses the address).
    pub fn of(address: &str) -> Result<String, InvalidEmail> {
        if address.chars().any(is_invisible) {
            return Err(InvalidEmail::Malformed);
        }
        let (local, domain) = address.rsplit_once('@').ok_or(InvalidEmail::Malformed)?;
        let domain = idna::domain_to_ascii_strict(domain).map_err(|_| InvalidEmail::Malformed)?;
        let local = local.to_lowercase();
        let local = ComposingNormalizerBorrowed::new_nfc().normalize(&local);
        Ok(format!("{local}@{domain}"))
    }
}

#[cfg(not(feature = "ssr"))]
mod key {
    pub fn of(address: &str) -> Result<String, super::InvalidEmail> {
        Ok(address.to_lowercase())
    }
}

impl fmt::Display for SubscriberEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.typed)
    }
}

impl AsRef<str> for SubscriberEmail {
    fn as_ref(&self) -> &str {
        &self.typed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_ordinary_addresses_and_keeps_them_as_typed() {
        let email = SubscriberEmail::parse("  Ada.Lovelace+news@Example.COM \n").unwrap();
        assert_eq!(email.as_str(), "Ada.Lovelace+news@Example.COM");
        assert_eq!(email.normalized(), "ada.lovelace+news@example.com");
    }

    #[test]
    fn accepts_a_quoted_local_part_with_markup_in_it() {
        let email =
            SubscriberEmail::parse(r#""<img src=x onerror=alert(1)>"@example.com"#).unwrap();
        assert_eq!(
            email.as_str(),
            r#""<img src=x onerror=alert(1)>"@example.com"#
        );
    }

    #[test]
    fn refuses_empty_and_blank_input() {
        assert_eq!(SubscriberEmail::parse(""), Err(InvalidEmail::Missing));
        assert_eq!(SubscriberEmail::parse(" \t\n"), Err(InvalidEmail::Missing));
    }

    #[test]
    fn refuses_malformed_addresses() {
        assert_malformed([
            "plainaddress",
            "@example.com",
            "name@",
            "name@localhost",
            "name@@example.com",
            "name@exa mple.com",
            "Name <name@example.com>",
            "name@[127.0.0.1]",
            "name@example.com, other@example.com",
        ]);
    }

    fn assert_malformed<'a>(inputs: impl IntoIterator<Item = &'a str>) {
        for input in inputs {
            assert_eq!(
                SubscriberEmail::parse(input),
                Err(InvalidEmail::Malformed),
                "{input:?} should be refused"
            );
        }
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn invisible_and_line_breaking_characters_are_refused() {
        assert_malformed([
            "ada\u{200B}@example.com",
            "a\u{0085}b@example.com",
            "\u{202E}moc.live@example.com",
            "ada@exa\u{200D}mple.com",
            "ada\u{2028}@example.com",
            "ada\u{00AD}@example.com",
            "x@a{b}c.com",
            "x@a_b.com",
            "x@-ab.com",
        ]);
    }

    #[cfg(feature = "ssr")]
    #[test]
    fn unicode_forms_of_one_address_share_one_key_and_keep_what_was_typed() {
        let nfc = SubscriberEmail::parse("caf\u{E9}@example.com").unwrap();
        let nfd = SubscriberEmail::parse("cafe\u{301}@example.com").unwrap();
        assert_eq!(nfc.normalized(), nfd.normalized());
        assert_eq!(nfd.as_str(), "cafe\u{301}@example.com");
        let unicode = SubscriberEmail::parse("Ada@B\u{FC}cher.Example").unwrap();
        let ascii = SubscriberEmail::parse("ada@xn--bcher-kva.example").unwrap();
        assert_eq!(unicode.normalized(), "ada@xn--bcher-kva.example");
        assert_eq!(unicode.normalized(), ascii.normalized());
        assert_eq!(unicode.as_str(), "Ada@B\u{FC}cher.Example");
    }

    /// Found by `scripts/fuzz email` (kept as seeds): NFC lengthens this local part past 64
    /// octets, and turns U+037E into `;` — valid addresses whose keys are not addresses.
    #[cfg(feature = "ssr")]
    #[test]
    fn keys_need_not_be_addresses_but_are_fixed_points() {
        for input in [
            include_str!("../../fuzz/seeds/email/nfc-longer-local-part"),
            include_str!("../../fuzz/seeds/email/nfc-greek-question-mark"),
        ] {
            let key = SubscriberEmail::parse(input).unwrap().normalized();
            assert_eq!(SubscriberEmail::key_of(&key), Ok(key.clone()), "{input:?}");
        }
    }

    /// `scripts/fuzz email` found an accepted address of fewer than 254 characters but more
    /// than 254 octets (kept as the seed `fuzz/seeds/email/over-254-octets`).
    #[test]
    fn the_limit_counts_octets() {
        let input = format!("{}@example.com", "\u{E9}".repeat(130));
        assert!(input.chars().count() < MAX_EMAIL_LEN && input.len() > MAX_EMAIL_LEN);
        assert_eq!(SubscriberEmail::parse(&input), Err(InvalidEmail::TooLong));
    }

    #[test]
    fn length_limit_is_254_after_trimming() {
        let domain = format!(
            "{}.{}.{}.ee.com",
            "b".repeat(60),
            "c".repeat(60),
            "d".repeat(60)
        );
        let at_limit = format!("{}@{domain}", "a".repeat(64));
        assert_eq!(at_limit.len(), MAX_EMAIL_LEN);
        assert!(SubscriberEmail::parse(&at_limit).is_ok());
        assert!(SubscriberEmail::parse(&format!("   {at_limit}\n")).is_ok());
        let over = format!("{}@e{domain}", "a".repeat(64));
        assert_eq!(SubscriberEmail::parse(&over), Err(InvalidEmail::TooLong));
    }

    proptest! {
        #[test]
        fn never_panics_and_accepted_addresses_are_trimmed_and_bounded(input in "\\PC{0,300}") {
            if let Ok(email) = SubscriberEmail::parse(&input) {
                prop_assert!(email.as_str().len() <= MAX_EMAIL_LEN);
                prop_assert_eq!(email.as_str(), email.as_str().trim());
                prop_assert!(email.as_str().contains('@'));
            }
        }

        #[test]
        fn well_formed_addresses_are_accepted(
            local in "[a-z0-9][a-z0-9._+-]{0,20}[a-z0-9]",
            domain in "[a-z0-9]{1,20}(\\.[a-z0-9]{1,10}){0,2}\\.[a-z]{2,6}",
        ) {
            prop_assume!(!local.contains(".."));
            let input = format!("{local}@{domain}");
            let email = SubscriberEmail::parse(&input);
            prop_assert!(email.is_ok(), "{} refused: {:?}", input, email);
        }

        #[test]
        fn case_variants_share_one_key(local in "[a-zA-Z]{1,20}", domain in "[a-zA-Z]{1,20}\\.[a-zA-Z]{2,6}") {
            let lower = SubscriberEmail::parse(&format!("{}@{}", local.to_lowercase(), domain.to_lowercase())).unwrap();
            let mixed = SubscriberEmail::parse(&format!("{local}@{domain}")).unwrap();
            prop_assert_eq!(lower.normalized(), mixed.normalized());
        }

        /// The key is a fixed point: the key of a key is itself.
        #[test]
        fn keys_are_fixed_points(input in "\\PC{0,80}@[a-zA-Z\u{E0}-\u{FF}]{1,12}\\.[a-z]{2,4}") {
            if let Ok(email) = SubscriberEmail::parse(&input) {
                let key = email.normalized();
                prop_assert_eq!(SubscriberEmail::key_of(&key), Ok(key));
            }
        }

        #[test]
        fn surrounding_whitespace_never_changes_the_result(input in "[ -~]{0,60}", pad in "[ \t\n]{0,5}") {
            let padded = format!("{pad}{input}{pad}");
            prop_assert_eq!(SubscriberEmail::parse(&input).map(|e| e.normalized()), SubscriberEmail::parse(&padded).map(|e| e.normalized()));
        }
    }
}
