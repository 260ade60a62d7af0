//! A subscriber item and the attribute values it is made of.

use super::{Item, KEY_ATTRIBUTE, TTL_ATTRIBUTE};
use app::store::{ConsentEvent, ConsentEventKind, Status, StoreError, Subscriber};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

/// A subscriber item, read into what the store reasons about.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub(super) key: String,
    pub(super) subscriber: Subscriber,
    pub(super) history: Vec<ConsentEvent>,
    pub(super) confirm_hash: Option<String>,
    pub(super) confirmation_sent_at: Option<OffsetDateTime>,
    /// Unix seconds, while pending.
    pub(super) expires_at: Option<i64>,
    pub(super) unsubscribe_token: Option<String>,
    /// `None` on items written before versions existed.
    pub(super) version: Option<u64>,
}

impl Row {
    pub(super) fn fresh(key: String, subscriber: Subscriber) -> Self {
        Self {
            key,
            subscriber,
            history: Vec::new(),
            confirm_hash: None,
            confirmation_sent_at: None,
            expires_at: None,
            unsubscribe_token: None,
            version: None,
        }
    }

    pub(super) fn expired(&self, now: OffsetDateTime) -> bool {
        self.subscriber.status == Status::Pending
            && self
                .expires_at
                .is_none_or(|expires| expires <= now.unix_timestamp())
    }

    pub(super) fn record(
        &mut self,
        at: OffsetDateTime,
        kind: ConsentEventKind,
        source: &str,
        ip: Option<&str>,
    ) {
        self.history.push(ConsentEvent {
            at,
            kind,
            source: source.to_owned(),
            client_ip: ip.map(str::to_owned),
        });
    }

    /// The counter this row is counted in (without its shard).
    pub(super) fn counter(&self) -> String {
        match self.subscriber.status {
            Status::Confirmed => "#count:confirmed".into(),
            Status::Unsubscribed => "#count:unsubscribed".into(),
            Status::Pending => format!(
                "#count:pending:{}",
                self.expires_at.unwrap_or(0).div_euclid(3600)
            ),
        }
    }

    pub(super) fn from_item(item: &Item) -> Result<Self, StoreError> {
        let key = string_attribute(item, KEY_ATTRIBUTE)?.to_owned();
        // Items written by the original sample have only `email`: that address, time unknown
        // (the Unix epoch), confirmed.
        let email = optional_string(item, "address")?.unwrap_or(&key).to_owned();
        let status = match optional_string(item, "status")? {
            None => Status::Confirmed,
            Some(text) => Status::parse(text)
                .ok_or_else(|| StoreError::Corrupt(format!("status {text:?}").into()))?,
        };
        let subscribed_at =
            optional_time(item, "subscribed_at")?.unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let confirmed_at = match (optional_time(item, "confirmed_at")?, status) {
            (None, Status::Confirmed) if !item.contains_key("status") => Some(subscribed_at),
            (at, _) => at,
        };
        let history = match item.get("history") {
            None => Vec::new(),
            Some(AttributeValue::L(events)) => events
                .iter()
                .map(parse_event)
                .collect::<Result<Vec<_>, _>>()?,
            Some(other) => return Err(StoreError::Corrupt(format!("history is {other:?}").into())),
        };
        Ok(Self {
            subscriber: Subscriber {
                email,
                status,
                subscribed_at,
                confirmed_at,
                unsubscribed_at: optional_time(item, "unsubscribed_at")?,
            },
            history,
            confirm_hash: optional_string(item, "confirm_hash")?.map(str::to_owned),
            confirmation_sent_at: optional_time(item, "confirmation_sent_at")?,
            expires_at: optional_number(item, TTL_ATTRIBUTE)?,
            unsubscribe_token: optional_string(item, "unsubscribe_token")?.map(str::to_owned),
            version: optional_number(item, "version")?.map(|v| v.max(0) as u64),
            key,
        })
    }

    /// The item to write, with the next version.
    pub(super) fn to_item(&self) -> Item {
        let mut item = Item::new();
        let mut put = |name: &str, value: AttributeValue| {
            item.insert(name.to_owned(), value);
        };
        put(KEY_ATTRIBUTE, s(&self.key));
        put("address", s(&self.subscriber.email));
        put("status", s(self.subscriber.status.as_str()));
        put(
            "subscribed_at",
            s(&format_time(self.subscriber.subscribed_at)),
        );
        for (name, at) in [
            ("confirmed_at", self.subscriber.confirmed_at),
            ("unsubscribed_at", self.subscriber.unsubscribed_at),
            ("confirmation_sent_at", self.confirmation_sent_at),
        ] {
            if let Some(at) = at {
                put(name, s(&format_time(at)));
            }
        }
        if let Some(hash) = &self.confirm_hash {
            put("confirm_hash", s(hash));
        }
        // Only pending subscriptions expire: a confirmed one must never carry the TTL attribute.
        if let (Some(expires), Status::Pending) = (self.expires_at, self.subscriber.status) {
            put(TTL_ATTRIBUTE, n(expires));
        }
        if let Some(token) = &self.unsubscribe_token {
            put("unsubscribe_token", s(token));
        }
        put(
            "history",
            AttributeValue::L(self.history.iter().map(event_item).collect()),
        );
        put("version", n(self.version.map_or(1, |v| v + 1) as i64));
        item
    }
}

fn event_item(event: &ConsentEvent) -> AttributeValue {
    let mut map = HashMap::from([
        ("at".to_owned(), s(&format_time(event.at))),
        ("kind".to_owned(), s(event.kind.as_str())),
        ("source".to_owned(), s(&event.source)),
    ]);
    if let Some(ip) = &event.client_ip {
        map.insert("client_ip".to_owned(), s(ip));
    }
    AttributeValue::M(map)
}

fn parse_event(value: &AttributeValue) -> Result<ConsentEvent, StoreError> {
    let AttributeValue::M(map) = value else {
        return Err(StoreError::Corrupt(
            format!("history entry {value:?}").into(),
        ));
    };
    let kind = string_attribute(map, "kind")?;
    Ok(ConsentEvent {
        at: optional_time(map, "at")?
            .ok_or_else(|| StoreError::Corrupt("history entry without a time".into()))?,
        kind: ConsentEventKind::parse(kind)
            .ok_or_else(|| StoreError::Corrupt(format!("history kind {kind:?}").into()))?,
        source: string_attribute(map, "source")?.to_owned(),
        client_ip: optional_string(map, "client_ip")?.map(str::to_owned),
    })
}

pub(crate) fn format_time(at: OffsetDateTime) -> String {
    // RFC 3339 formatting of a UTC time fails only for years outside 0..=9999.
    at.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_else(|_| "0000-01-01T00:00:00Z".into())
}

pub(crate) fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub(crate) fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(crate) fn unavailable<E: std::error::Error + Send + Sync + 'static>(err: E) -> StoreError {
    StoreError::Unavailable(Box::new(err))
}

pub(crate) fn string_attribute<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    optional_string(item, name)?
        .ok_or_else(|| StoreError::Corrupt(format!("attribute {name:?} is missing").into()))
}

pub(crate) fn optional_string<'a>(
    item: &'a Item,
    name: &str,
) -> Result<Option<&'a str>, StoreError> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::S(value)) => Ok(Some(value)),
        Some(other) => Err(StoreError::Corrupt(
            format!("attribute {name:?} is {other:?}, not a string").into(),
        )),
    }
}

pub(crate) fn optional_number(item: &Item, name: &str) -> Result<Option<i64>, StoreError> {
    match item.get(name) {
        None => Ok(None),
        Some(AttributeValue::N(value)) => value.parse().map(Some).map_err(|e| {
            StoreError::Corrupt(format!("attribute {name:?} = {value:?}: {e}").into())
        }),
        Some(other) => Err(StoreError::Corrupt(
            format!("attribute {name:?} is {other:?}, not a number").into(),
        )),
    }
}

pub(crate) fn optional_time(item: &Item, name: &str) -> Result<Option<OffsetDateTime>, StoreError> {
    optional_string(item, name)?
        .map(|text| {
            OffsetDateTime::parse(text, &Rfc3339)
                .map_err(|e| StoreError::Corrupt(format!("{name} {text:?}: {e}").into()))
        })
        .transpose()
}
