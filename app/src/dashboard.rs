//! The admin dashboard (the server crate's `dashboard_api`): subscribers per day over the last
//! 90 days, the totals per status, and each issue's sent and failed counts (opens are never
//! tracked). Signed like the rest of the admin API. The chart's geometry and its text summary
//! are computed here, so they are tested without a browser.

use crate::subscriber_status::StatusCounts;
use serde::{Deserialize, Serialize};

/// `GET`: the [`Dashboard`].
pub const DASHBOARD_PATH: &str = "/api/dashboard";
/// Days the chart shows, today included.
pub const DAYS: usize = 90;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dashboard {
    /// [`DAYS`] days, oldest first, ending today (UTC); days without changes are zeros.
    pub days: Vec<DayRow>,
    pub counts: StatusCounts,
    /// Newest first.
    pub issues: Vec<IssueTotals>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayRow {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    /// New confirmed subscribers.
    pub confirmed: u64,
    pub unsubscribed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueTotals {
    pub subject: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    pub sent: u64,
    pub failed: u64,
    /// Still being sent.
    pub sending: bool,
}

/// "30 Nov 2026" from `2026-11-30`; anything else as it is.
pub fn day_for_people(day: &str) -> String {
    let readable = crate::admin::time_for_people(&format!("{day}T00:00:00Z"));
    match readable.split_once(',') {
        Some((date, _)) => date.to_owned(),
        None => day.to_owned(),
    }
}

/// The chart's drawing: a bar up from the baseline for each day's new confirmed subscribers,
/// one down for its unsubscribes, both on one scale (so their sizes compare honestly).
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub bars: Vec<Bar>,
    /// Where the up and down bars meet, from the top.
    pub baseline: f64,
    /// The largest day up and down (the axis labels).
    pub most_confirmed: u64,
    pub most_unsubscribed: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub x: f64,
    /// Top of the up bar (its height is `baseline - up_top`).
    pub up_top: f64,
    /// Height of the down bar, from the baseline.
    pub down_height: f64,
}

/// The drawing area, in SVG user units.
pub const CHART_WIDTH: f64 = 900.0;
pub const CHART_HEIGHT: f64 = 200.0;
/// The part of a day's slot a bar takes.
pub const BAR_WIDTH: f64 = CHART_WIDTH / DAYS as f64 * 0.7;

pub fn chart(days: &[DayRow]) -> Chart {
    let most_confirmed = days.iter().map(|d| d.confirmed).max().unwrap_or(0);
    let most_unsubscribed = days.iter().map(|d| d.unsubscribed).max().unwrap_or(0);
    // An empty chart still has a baseline, two thirds down.
    let span = (most_confirmed + most_unsubscribed).max(1) as f64;
    let scale = CHART_HEIGHT / span;
    let baseline = if most_confirmed + most_unsubscribed == 0 {
        CHART_HEIGHT * 2.0 / 3.0
    } else {
        most_confirmed as f64 * scale
    };
    let slot = CHART_WIDTH / days.len().max(1) as f64;
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, day)| Bar {
            x: i as f64 * slot + (slot - BAR_WIDTH.min(slot)) / 2.0,
            up_top: baseline - day.confirmed as f64 * scale,
            down_height: day.unsubscribed as f64 * scale,
        })
        .collect();
    Chart {
        bars,
        baseline,
        most_confirmed,
        most_unsubscribed,
    }
}

/// What the chart shows, in a sentence or two (for screen readers, and above the chart).
pub fn summary(days: &[DayRow]) -> String {
    let confirmed: u64 = days.iter().map(|d| d.confirmed).sum();
    let unsubscribed: u64 = days.iter().map(|d| d.unsubscribed).sum();
    let plural = |n: u64, one: &str, many: &str| {
        if n == 1 {
            format!("1 {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let mut text = format!(
        "Last {} days: {}, {}.",
        days.len(),
        plural(
            confirmed,
            "new confirmed subscriber",
            "new confirmed subscribers"
        ),
        plural(unsubscribed, "unsubscribe", "unsubscribes")
    );
    // The latest of the busiest days.
    if let Some(busiest) = days
        .iter()
        .filter(|d| d.confirmed > 0)
        .max_by_key(|d| d.confirmed)
    {
        text.push_str(&format!(
            " Busiest day: {} with {} new.",
            day_for_people(&busiest.day),
            busiest.confirmed
        ));
    }
    text
}

/// The admin page's signed call.
pub mod client {
    use super::*;
    use crate::{
        admin::client::signed_get, api_client, error::ApiError, sigv4_signer::SigningIdentity,
    };

    pub async fn dashboard(identity: &SigningIdentity) -> Result<Dashboard, ApiError> {
        let signed = signed_get(identity, DASHBOARD_PATH, &[])?;
        api_client::get(&signed).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: u32, confirmed: u64, unsubscribed: u64) -> DayRow {
        DayRow {
            day: format!("2026-11-{n:02}"),
            confirmed,
            unsubscribed,
        }
    }

    #[test]
    fn up_and_down_bars_share_one_scale_and_fill_the_height() {
        let days = [day(1, 4, 0), day(2, 0, 0), day(3, 1, 2)];
        let chart = chart(&days);
        // 4 up and 2 down use the whole height: 200 / 6 units per subscriber.
        assert!((chart.baseline - 4.0 * 200.0 / 6.0).abs() < 1e-9);
        assert!(
            chart.bars[0].up_top.abs() < 1e-9,
            "the tallest reaches the top"
        );
        assert!((chart.bars[1].up_top - chart.baseline).abs() < 1e-9);
        assert!((chart.bars[2].down_height - 2.0 * 200.0 / 6.0).abs() < 1e-9);
        assert!(chart.baseline + chart.bars[2].down_height <= CHART_HEIGHT + 1e-9);
        assert!(chart.bars.windows(2).all(|w| w[0].x < w[1].x));
        assert_eq!((chart.most_confirmed, chart.most_unsubscribed), (4, 2));
    }

    #[test]
    fn an_empty_chart_has_a_baseline_and_no_bar_height() {
        let chart = chart(&[day(1, 0, 0), day(2, 0, 0)]);
        assert!(chart.baseline > 0.0 && chart.baseline < CHART_HEIGHT);
        assert!(chart
            .bars
            .iter()
            .all(|b| b.up_top == chart.baseline && b.down_height == 0.0));
        assert!(chart.bars.iter().all(|b| b.x.is_finite()));
    }

    #[test]
    fn the_summary_says_the_totals_and_the_busiest_day() {
        let days = [day(1, 4, 0), day(2, 0, 1), day(3, 4, 2)];
        assert_eq!(
            summary(&days),
            "Last 3 days: 8 new confirmed subscribers, 3 unsubscribes. Busiest day: 3 Nov 2026 \
             with 4 new."
        );
        assert_eq!(
            summary(&[day(1, 1, 1)]),
            "Last 1 days: 1 new confirmed subscriber, 1 unsubscribe. Busiest day: 1 Nov 2026 \
             with 1 new."
        );
        assert_eq!(
            summary(&[day(1, 0, 0)]),
            "Last 1 days: 0 new confirmed subscribers, 0 unsubscribes."
        );
        assert_eq!(day_for_people("2026-11-30"), "30 Nov 2026");
        assert_eq!(day_for_people("soon"), "soon");
    }
}
