//! `GET /api/dashboard` (types in `app::dashboard`): the last 90 days' new confirmed subscribers
//! and unsubscribes (the stores' day counters), the totals per status, and each issue's sent
//! and failed counts. Every number is a counter the store keeps: no scan, whatever the size of
//! the list. Behind the SigV4 layer.

use crate::{api_errors::json_answer, signed_api::admin_caller, state::AppState};
use app::{
    credentials::Caller,
    dashboard::{Dashboard, DayRow, IssueTotals, DAYS},
    error::{describe, ApiError},
    store::DayCounts,
};
use axum::{extract::State, response::Response, Extension};
use time::{format_description::well_known::Rfc3339, Date, Duration, OffsetDateTime};

/// The `DAYS` days ending `today`, oldest first, zeros where the store counted nothing.
fn every_day(today: Date, counted: &[DayCounts]) -> Vec<DayRow> {
    let first = today - Duration::days(DAYS as i64 - 1);
    (0..DAYS as i64)
        .map(|n| {
            let day = first + Duration::days(n);
            let found = counted.iter().find(|c| c.day == day);
            DayRow {
                day: day.to_string(),
                confirmed: found.map_or(0, |c| c.confirmed),
                unsubscribed: found.map_or(0, |c| c.unsubscribed),
            }
        })
        .collect()
}

pub async fn dashboard(
    State(state): State<AppState>,
    caller: Option<Extension<Caller>>,
) -> Response {
    json_answer(
        async {
            admin_caller(caller)?;
            let now = OffsetDateTime::now_utc();
            let today = now.date();
            let store = &state.services.store;
            let unavailable = |err: &(dyn std::error::Error + 'static)| {
                tracing::error!(error = %describe(err), "reading the dashboard failed");
                ApiError::unavailable()
            };
            let (counted, counts, issues) = tokio::join!(
                store.daily_counts(today - Duration::days(DAYS as i64 - 1), today),
                store.counts(now),
                state.newsletter.issues(),
            );
            let counted = counted.map_err(|e| unavailable(&e))?;
            Ok(Dashboard {
                days: every_day(today, &counted),
                counts: counts.map_err(|e| unavailable(&e))?,
                issues: issues
                    .map_err(|e| unavailable(&e))?
                    .into_iter()
                    .map(|(record, progress)| IssueTotals {
                        subject: record.subject,
                        started_at: record.started_at.format(&Rfc3339).unwrap_or_default(),
                        sent: progress.sent,
                        failed: progress.failed,
                        sending: !progress.done(),
                    })
                    .collect(),
            })
        }
        .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Month;

    #[test]
    fn ninety_days_end_today_with_zeros_where_nothing_changed() {
        let today = Date::from_calendar_date(2026, Month::November, 30).unwrap();
        let counted = [DayCounts {
            day: Date::from_calendar_date(2026, Month::November, 29).unwrap(),
            confirmed: 3,
            unsubscribed: 1,
        }];
        let days = every_day(today, &counted);
        assert_eq!(days.len(), DAYS);
        assert_eq!(days[0].day, "2026-09-02");
        assert_eq!(days[DAYS - 1].day, "2026-11-30");
        assert_eq!(
            (days[DAYS - 2].confirmed, days[DAYS - 2].unsubscribed),
            (3, 1)
        );
        assert_eq!(days.iter().map(|d| d.confirmed).sum::<u64>(), 3);
    }
}
