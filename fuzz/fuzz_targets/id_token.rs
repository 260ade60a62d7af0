//! ID token verification on arbitrary strings (and mutations of a real token): never panics,
//! never accepts anything but a token our key signed.
#![no_main]

use app::credentials::Caller;
use libfuzzer_sys::fuzz_target;
use server::identity::id_token::{IdTokenIssuer, IdTokenVerifier, TokenRules};
use std::sync::OnceLock;

struct Fixture {
    verifier: IdTokenVerifier,
    genuine: String,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let signer = IdTokenIssuer::load_or_create(dir.path()).expect("key");
        let rules = TokenRules {
            issuer: "serverless-stories".into(),
            audience: "serverless-stories-web".into(),
        };
        let caller = Caller {
            sub: "sub".into(),
            username: "ada".into(),
            groups: vec!["admin".into()],
        };
        let genuine = signer
            .issue(&caller, &rules, time::OffsetDateTime::now_utc())
            .expect("token");
        Fixture {
            verifier: IdTokenVerifier::new(signer.jwks(), rules),
            genuine,
            _dir: dir,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let fixture = fixture();
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = fixture.verifier.verify(text);
    }
    // Flip bytes of the genuine token where the input says: any change must be refused.
    if data.len() >= 2 {
        let mut token = fixture.genuine.clone().into_bytes();
        let at = usize::from(data[0]) * 256 % token.len() + usize::from(data[1]) % token.len();
        let at = at % token.len();
        let replacement = data.get(2).copied().unwrap_or(b'A');
        if token[at] != replacement {
            token[at] = replacement;
            if let Ok(mutated) = String::from_utf8(token) {
                if mutated != fixture.genuine {
                    // Base64url has a few bit patterns that decode to the same bytes (the
                    // unused low bits of the last character): only a different payload counts.
                    if let Ok(verified) = fixture.verifier.verify(&mutated) {
                        assert_eq!(
                            verified.caller.username, "ada",
                            "a tampered token was accepted"
                        );
                    }
                }
            }
        }
    }
});
