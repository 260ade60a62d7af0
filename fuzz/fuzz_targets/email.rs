//! The subscriber address parser: never panics; what it accepts is bounded (octets), parses again
//! to the same address, and its key parses to the same key.
#![no_main]

use app::subscriber_email::SubscriberEmail;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(email) = SubscriberEmail::parse(input) {
        assert!(email.as_str().len() <= 254);
        let key = SubscriberEmail::parse(&email.normalized()).expect("a key parses");
        assert_eq!(key.normalized(), email.normalized());
        let again =
            SubscriberEmail::parse(email.as_str()).expect("an accepted address parses again");
        assert_eq!(again.as_str(), email.as_str());
    }
});
