//! The subscriber address parser: never panics; what it accepts is bounded, lower-cases to its
//! key, and parses again to the same address.
#![no_main]

use app::subscriber_email::SubscriberEmail;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(email) = SubscriberEmail::parse(input) {
        assert!(email.as_str().len() <= 254);
        assert_eq!(email.normalized(), email.as_str().to_lowercase());
        let again =
            SubscriberEmail::parse(email.as_str()).expect("an accepted address parses again");
        assert_eq!(again.as_str(), email.as_str());
    }
});
