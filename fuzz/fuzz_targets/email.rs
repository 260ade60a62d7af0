//! The subscriber address parser: never panics; what it accepts is bounded (octets), parses again
//! to the same address, and its key is a fixed point (the key of the key is the key).
#![no_main]

use app::subscriber_email::SubscriberEmail;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    if let Ok(email) = SubscriberEmail::parse(input) {
        assert!(email.as_str().len() <= 254);
        let key = email.normalized();
        assert_eq!(SubscriberEmail::key_of(&key).as_ref(), Ok(&key));
        let again =
            SubscriberEmail::parse(email.as_str()).expect("an accepted address parses again");
        assert_eq!(again.as_str(), email.as_str());
    }
});
