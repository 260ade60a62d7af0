//! Where a subscriber is in the list's lifecycle, and how many are in each state: what the
//! store keeps and the admin page shows (so in both the server and the browser).

/// Where an address is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Subscribed with double opt-in on, and not yet confirmed through the mailed link.
    Pending,
    /// On the list: gets the newsletter.
    Confirmed,
    /// Left the list (the record of their consent stays until they are erased).
    Unsubscribed,
}

impl Status {
    pub const ALL: [Status; 3] = [Status::Pending, Status::Confirmed, Status::Unsubscribed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Confirmed => "confirmed",
            Self::Unsubscribed => "unsubscribed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == text)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Counts per status (pending ones only until they expire).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatusCounts {
    pub pending: u64,
    pub confirmed: u64,
    pub unsubscribed: u64,
}

impl StatusCounts {
    pub fn get(&self, status: Status) -> u64 {
        match status {
            Status::Pending => self.pending,
            Status::Confirmed => self.confirmed,
            Status::Unsubscribed => self.unsubscribed,
        }
    }

    pub fn total(&self) -> u64 {
        self.pending + self.confirmed + self.unsubscribed
    }
}
