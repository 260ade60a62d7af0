//! The subscriber's email address: parsed once, at the edge, into a type that is always valid.

use email_address::{EmailAddress, Options};
use serde::{Deserialize, Serialize};
use std::fmt;

/// RFC 5321's limit on a forward path (counted in characters, as the message says).
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

/// A syntactically valid address, as the visitor typed it (trimmed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriberEmail(String);

impl SubscriberEmail {
    pub fn parse(input: &str) -> Result<Self, InvalidEmail> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(InvalidEmail::Missing);
        }
        if trimmed.chars().count() > MAX_EMAIL_LEN {
            return Err(InvalidEmail::TooLong);
        }
        // A newsletter needs a deliverable address: a dotted domain name, no "Name <a@b>" display
        // form, no [IP] literal.
        let options = Options::default()
            .with_required_tld()
            .without_display_text()
            .without_domain_literal();
        EmailAddress::parse_with_options(trimmed, options).map_err(|_| InvalidEmail::Malformed)?;
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key duplicates are detected on: the same mailbox typed with different letter case is
    /// one subscriber. (Local parts are case-sensitive in theory, never in practice.)
    pub fn normalized(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for SubscriberEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for SubscriberEmail {
    fn as_ref(&self) -> &str {
        &self.0
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
        for input in [
            "plainaddress",
            "@example.com",
            "name@",
            "name@localhost",
            "name@@example.com",
            "name@exa mple.com",
            "Name <name@example.com>",
            "name@[127.0.0.1]",
            "name@example.com, other@example.com",
        ] {
            assert_eq!(
                SubscriberEmail::parse(input),
                Err(InvalidEmail::Malformed),
                "{input:?} should be refused"
            );
        }
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
                prop_assert!(email.as_str().chars().count() <= MAX_EMAIL_LEN);
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

        #[test]
        fn surrounding_whitespace_never_changes_the_result(input in "[ -~]{0,60}", pad in "[ \t\n]{0,5}") {
            let padded = format!("{pad}{input}{pad}");
            prop_assert_eq!(SubscriberEmail::parse(&input).map(|e| e.normalized()), SubscriberEmail::parse(&padded).map(|e| e.normalized()));
        }
    }
}
