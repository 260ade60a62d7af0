//! The admin page's overview: the totals per status, subscribers per day over the last 90 days
//! as an inline SVG chart drawn here (no chart library, nothing fetched from elsewhere), and
//! each issue's sent and failed counts. Readable without colour: new confirmed subscribers rise
//! above the line, unsubscribes hang below it, hatched; a sentence says what it shows, and the
//! numbers are in a table too.

use super::admin::{session_token, signed_call, signed_out, status_label, Failure};
use crate::{
    admin::time_for_people,
    dashboard::{
        chart, client::dashboard, day_for_people, summary, Dashboard, DayRow, IssueTotals,
        BAR_WIDTH, CHART_HEIGHT, CHART_WIDTH,
    },
    subscriber_status::Status,
};
use leptos::{prelude::*, task::spawn_local};

/// Room around the drawing area for the labels.
const LEFT: f64 = 44.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 30.0;

#[island(lazy)]
pub fn DashboardPanel() -> impl IntoView {
    let loaded = RwSignal::new(None::<Result<Dashboard, String>>);
    Effect::new(move |_| {
        let Some(token) = session_token() else {
            return;
        };
        spawn_local(async move {
            match signed_call(&token, |identity| async move { dashboard(&identity).await }).await {
                Ok(board) => loaded.set(Some(Ok(board))),
                Err(Failure::SignedOut) => signed_out(),
                Err(Failure::Message(message)) => loaded.set(Some(Err(message))),
            }
        });
    });
    view! {
        <div class="dashboard">
            {move || match loaded.get() {
                None => view! { <p class="loading" role="status">"Loading the overview…"</p> }.into_any(),
                Some(Err(message)) => view! { <p class="alert alert-danger" role="alert">{message}</p> }.into_any(),
                Some(Ok(board)) => view! {
                    <Totals board=board.clone()/>
                    <DayChart days=board.days.clone()/>
                    <IssueLines issues=board.issues/>
                }
                .into_any(),
            }}
        </div>
    }
}

#[component]
fn Totals(board: Dashboard) -> impl IntoView {
    view! {
        <ul class="totals" aria-label="Totals per status">
            {[Status::Confirmed, Status::Pending, Status::Unsubscribed]
                .map(|status| view! {
                    <li>
                        <strong class="total-number">{board.counts.get(status)}</strong>
                        <span class="total-label">{status_label(status)}</span>
                    </li>
                })
                .collect_view()}
        </ul>
    }
}

fn number(x: f64) -> String {
    format!("{x:.1}")
}

#[component]
fn DayChart(days: Vec<DayRow>) -> impl IntoView {
    let drawing = chart(&days);
    let said = summary(&days);
    let baseline = TOP + drawing.baseline;
    let (first, middle, last) = (
        days.first()
            .map(|d| day_for_people(&d.day))
            .unwrap_or_default(),
        days.get(days.len() / 2)
            .map(|d| day_for_people(&d.day))
            .unwrap_or_default(),
        days.last()
            .map(|d| day_for_people(&d.day))
            .unwrap_or_default(),
    );
    let bars =
        days.iter()
            .zip(drawing.bars.iter())
            .map(|(day, bar)| {
                let x = number(LEFT + bar.x);
                let width = number(BAR_WIDTH);
                let up = (day.confirmed > 0).then(|| {
                let tip = format!("{}: {} new confirmed", day_for_people(&day.day), day.confirmed);
                view! {
                    <rect class="bar-up" x=x.clone() y=number(TOP + bar.up_top) width=width.clone()
                        height=number(drawing.baseline - bar.up_top)>
                        <title>{tip}</title>
                    </rect>
                }
            });
                let down = (day.unsubscribed > 0).then(|| {
                    let tip = format!(
                        "{}: {} unsubscribed",
                        day_for_people(&day.day),
                        day.unsubscribed
                    );
                    view! {
                        <rect class="bar-down" x=x y=number(baseline) width=width
                            height=number(bar.down_height) fill="url(#unsubscribed-hatch)">
                            <title>{tip}</title>
                        </rect>
                    }
                });
                view! { {up}{down} }
            })
            .collect_view();
    let view_box = format!(
        "0 0 {} {}",
        LEFT + CHART_WIDTH + 8.0,
        TOP + CHART_HEIGHT + BOTTOM
    );
    let axis_end = number(LEFT + CHART_WIDTH);
    let label_y = number(TOP + CHART_HEIGHT + 20.0);
    let active: Vec<DayRow> = days
        .iter()
        .filter(|d| d.confirmed > 0 || d.unsubscribed > 0)
        .cloned()
        .collect();
    view! {
        <figure class="day-chart">
            <figcaption>{said.clone()}</figcaption>
            <svg viewBox=view_box role="img" aria-labelledby="day-chart-title" aria-describedby="day-chart-desc">
                <title id="day-chart-title">"Subscribers per day, last 90 days"</title>
                <desc id="day-chart-desc">{said}</desc>
                <defs>
                    <pattern id="unsubscribed-hatch" width="4" height="4" patternUnits="userSpaceOnUse">
                        <rect class="hatch-ground" width="4" height="4"/>
                        <path class="hatch-line" d="M0,4 L4,0"/>
                    </pattern>
                </defs>
                {bars}
                <line class="chart-baseline" x1=number(LEFT) x2=axis_end.clone() y1=number(baseline) y2=number(baseline)/>
                <text class="chart-label" x=number(LEFT - 6.0) y=number(TOP + 4.0) text-anchor="end">
                    {format!("+{}", drawing.most_confirmed)}
                </text>
                <text class="chart-label" x=number(LEFT - 6.0) y=number(baseline + 4.0) text-anchor="end">"0"</text>
                {(drawing.most_unsubscribed > 0).then(|| view! {
                    <text class="chart-label" x=number(LEFT - 6.0) y=number(TOP + CHART_HEIGHT) text-anchor="end">
                        {format!("−{}", drawing.most_unsubscribed)}
                    </text>
                })}
                <text class="chart-label" x=number(LEFT) y=label_y.clone() text-anchor="start">{first}</text>
                <text class="chart-label" x=number(LEFT + CHART_WIDTH / 2.0) y=label_y.clone() text-anchor="middle">{middle}</text>
                <text class="chart-label" x=axis_end y=label_y text-anchor="end">{last}</text>
            </svg>
            <ul class="chart-legend">
                <li><span class="legend-key legend-up"></span>"New confirmed subscribers (above the line)"</li>
                <li><span class="legend-key legend-down"></span>"Unsubscribes (below the line, hatched)"</li>
            </ul>
        </figure>
        <details class="day-numbers">
            <summary>"Numbers per day"</summary>
            {if active.is_empty() {
                view! { <p>"No one subscribed or left in these 90 days."</p> }.into_any()
            } else {
                view! {
                    <table class="day-table">
                        <thead><tr><th scope="col">"Day"</th><th scope="col">"New confirmed"</th><th scope="col">"Unsubscribed"</th></tr></thead>
                        <tbody>
                            {active.into_iter().rev().map(|d| view! {
                                <tr><td>{day_for_people(&d.day)}</td><td>{d.confirmed}</td><td>{d.unsubscribed}</td></tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }
                .into_any()
            }}
        </details>
    }
}

#[component]
fn IssueLines(issues: Vec<IssueTotals>) -> impl IntoView {
    view! {
        <h3 class="issues-heading">"Issues sent"</h3>
        {if issues.is_empty() {
            view! { <p class="issues-none">"No issue sent yet."</p> }.into_any()
        } else {
            view! {
                <ul class="issue-totals">
                    {issues.into_iter().map(|issue| view! {
                        <li>
                            <strong>{issue.subject}</strong>
                            " · " <time datetime=issue.started_at.clone()>{time_for_people(&issue.started_at)}</time>
                            ": " {issue.sent} " sent, " {issue.failed} " failed"
                            {issue.sending.then_some(" (still sending)")}
                        </li>
                    }).collect_view()}
                </ul>
            }
            .into_any()
        }}
    }
}
