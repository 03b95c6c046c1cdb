//! The delivery rules' unit tests: the retry schedule, `Retry-After`, exhaustion, and when an
//! endpoint is disabled.

use super::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

const T0: Timestamp = Timestamp::from_millis(1_795_860_000_000);

fn at(offset: Duration) -> Timestamp {
    later(T0, offset)
}

/// An attempt that started at T0 and took one second.
fn attempt(result: Result<Delivered, Failure>) -> Attempt {
    Attempt {
        attempted_at: T0,
        duration: secs(1),
        result,
    }
}

fn ok(status: u16) -> Attempt {
    attempt(Ok(Delivered {
        status,
        response_excerpt: "thanks".into(),
    }))
}

fn status(status: u16, retry_after: Option<Duration>) -> Failure {
    Failure::Status {
        status,
        retry_after,
        response_excerpt: "scripted".into(),
    }
}

fn timeout() -> Failure {
    Failure::Timeout { after: secs(10) }
}

/// One of each failure the client tells apart, with whether it is retried.
fn every_failure() -> Vec<(Failure, bool)> {
    vec![
        (status(429, None), true),
        (status(500, None), true),
        (status(503, Some(secs(7))), true),
        (status(599, None), true),
        (status(410, None), false),
        (status(400, None), false),
        (status(404, None), false),
        (status(301, None), false),
        (status(302, None), false),
        (status(101, None), false),
        (status(600, None), false),
        (timeout(), true),
        (
            Failure::Dns {
                host: "x.invalid".into(),
            },
            true,
        ),
        (
            Failure::Connect {
                reason: "connection refused".into(),
            },
            true,
        ),
        (
            Failure::Request {
                reason: "connection closed before message completed".into(),
            },
            true,
        ),
        (Failure::Refused(Refusal::PlainHttp), true),
        (
            Failure::Refused(Refusal::NotPublic("10.0.0.1".parse().unwrap())),
            true,
        ),
        (Failure::InvalidUrl, true),
        (Failure::NoHost, true),
        (Failure::SecretUnreadable, true),
        (Failure::Interrupted, true),
        (Failure::BadHeaderName { name: "a b".into() }, false),
        (
            Failure::BadHeaderValue {
                name: "X-Sig".into(),
            },
            false,
        ),
    ]
}

#[test]
fn the_default_schedule_is_the_contracts() {
    let schedule = RetrySchedule::default();
    assert_eq!(schedule.attempts(), 8);
    assert_eq!(
        schedule,
        RetrySchedule::parse("0s,5s,5m,30m,2h,5h,10h,10h").unwrap()
    );
    assert_eq!(schedule.delay_before(1), Some(Duration::ZERO));
    assert_eq!(schedule.delay_before(2), Some(secs(5)));
    assert_eq!(schedule.delay_before(9), None);
    assert_eq!(schedule.delay_before(0), None);
}

#[test]
fn parsing_rejects_nonsense() {
    assert_eq!(
        RetrySchedule::parse("10ms, 1s").unwrap().delay_before(1),
        Some(Duration::from_millis(10))
    );
    for bad in ["", "5", "5x", "5s,,1s", "-1s"] {
        assert!(RetrySchedule::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn unanswered_requests_429_and_5xx_are_retried_other_statuses_and_bad_headers_are_not() {
    for (failure, retried) in every_failure() {
        assert_eq!(failure.is_retried(), retried, "{failure:?}");
        assert_eq!(attempt(Err(failure.clone())).is_retried(), retried);
    }
    assert!(!ok(200).is_retried(), "a success is not retried");
}

#[test]
fn retries_follow_the_schedule_with_bounded_jitter() {
    let schedule = RetrySchedule::default();
    assert_eq!(retry_delay(&schedule, 1, None, 0.0), Some(secs(5)));
    assert_eq!(retry_delay(&schedule, 1, None, 1.0), Some(secs(6)));
    assert_eq!(retry_delay(&schedule, 1, None, -1.0), Some(secs(4)));
    assert_eq!(
        retry_delay(&schedule, 1, None, 7.0),
        Some(secs(6)),
        "jitter is clamped"
    );
    assert_eq!(retry_delay(&schedule, 2, None, 0.0), Some(secs(300)));
    assert_eq!(retry_delay(&schedule, 7, None, 0.0), Some(secs(36_000)));
    assert_eq!(retry_delay(&schedule, 8, None, 0.0), None, "used up");
    assert_eq!(retry_delay(&schedule, usize::MAX, None, 0.0), None);
}

#[test]
fn retry_after_lengthens_within_bounds_and_never_shortens() {
    let schedule = RetrySchedule::default();
    assert_eq!(
        retry_delay(&schedule, 1, Some(secs(30)), 0.0),
        Some(secs(30))
    );
    assert_eq!(retry_delay(&schedule, 1, Some(secs(1)), 0.0), Some(secs(5)));
    assert_eq!(
        retry_delay(&schedule, 1, Some(secs(86_400)), 0.0),
        Some(MAX_RETRY_AFTER)
    );
    assert_eq!(
        retry_delay(&schedule, 8, Some(secs(30)), 0.0),
        None,
        "Retry-After does not add attempts"
    );
}

#[test]
fn a_retry_is_due_its_delay_after_the_attempt_ended() {
    let schedule = RetrySchedule::default();
    assert_eq!(
        next_step(&schedule, 1, &attempt(Err(timeout())), 0.0),
        NextStep::RetryAt(at(secs(1 + 5)))
    );
    assert_eq!(
        next_step(
            &schedule,
            1,
            &attempt(Err(status(503, Some(secs(60))))),
            0.0
        ),
        NextStep::RetryAt(at(secs(1 + 60))),
        "Retry-After on a 503 counts"
    );
    assert_eq!(
        next_step(&schedule, 8, &attempt(Err(timeout())), 0.0),
        NextStep::Exhausted
    );
}

#[test]
fn final_steps() {
    let schedule = RetrySchedule::default();
    assert_eq!(next_step(&schedule, 3, &ok(204), 0.0), NextStep::Succeeded);
    for (failure, retried) in every_failure() {
        let step = next_step(&schedule, 1, &attempt(Err(failure.clone())), 0.0);
        assert_eq!(matches!(step, NextStep::RetryAt(_)), retried, "{failure:?}");
        if !retried {
            assert_eq!(step, NextStep::Failed, "{failure:?}");
        }
    }
    for status in DeliveryStatus::ALL {
        assert_eq!(DeliveryStatus::parse(status.as_str()), Some(status));
    }
}

#[test]
fn a_410_disables_at_once() {
    let gone = attempt(Err(status(410, None)));
    let disabled = EndpointHealth::Disable(DisableReason::Gone);
    assert_eq!(endpoint_health(&gone, None, secs(86_400)), disabled);
    assert_eq!(endpoint_health(&gone, Some(T0), secs(86_400)), disabled);
    assert_eq!(DisableReason::Gone.as_str(), "gone");
}

#[test]
fn failing_for_too_long_disables() {
    let window = secs(5 * 86_400);
    let failed = attempt(Err(timeout()));
    assert_eq!(
        endpoint_health(&failed, None, window),
        EndpointHealth::Failing,
        "the first failure starts a streak"
    );
    let since = |ago: Duration| Some(T0.plus_millis(-i64::try_from(ago.as_millis()).unwrap()));
    assert_eq!(
        endpoint_health(&failed, since(window - secs(1)), window),
        EndpointHealth::Failing
    );
    assert_eq!(
        endpoint_health(&failed, since(window), window),
        EndpointHealth::Disable(DisableReason::Failing)
    );
    for (failure, _) in every_failure() {
        let health = endpoint_health(&attempt(Err(failure.clone())), since(window), window);
        let reason = if matches!(failure, Failure::Status { status: 410, .. }) {
            DisableReason::Gone
        } else {
            DisableReason::Failing
        };
        assert_eq!(health, EndpointHealth::Disable(reason), "{failure:?}");
    }
    assert_eq!(DisableReason::Failing.as_str(), "failing");
}

#[test]
fn a_success_ends_the_streak() {
    let window = secs(60);
    assert_eq!(
        endpoint_health(&ok(200), None, window),
        EndpointHealth::Healthy
    );
    assert_eq!(
        endpoint_health(&ok(200), Some(Timestamp::from_millis(0)), window),
        EndpointHealth::Healthy,
        "even one that ran far too long"
    );
}

#[test]
fn the_log_reads_as_it_always_has() {
    let sentences = [
        (status(503, Some(secs(7))), "HTTP 503"),
        (timeout(), "timed out after 10 s"),
        (
            Failure::Timeout {
                after: Duration::from_millis(300),
            },
            "timed out after 300 ms",
        ),
        (
            Failure::Timeout {
                after: Duration::from_millis(1500),
            },
            "timed out after 1.5 s",
        ),
        (
            Failure::Dns {
                host: "x.invalid".into(),
            },
            "DNS lookup failed for x.invalid",
        ),
        (
            Failure::Connect {
                reason: "connection refused".into(),
            },
            "could not connect: connection refused",
        ),
        (
            Failure::Request {
                reason: "oops".into(),
            },
            "request failed: oops",
        ),
        (
            Failure::Refused(Refusal::PlainHttp),
            "refused: plain http is not allowed, use https",
        ),
        (
            Failure::Refused(Refusal::Scheme("ftp".into())),
            "refused: the \"ftp\" scheme is not allowed, use https",
        ),
        (
            Failure::Refused(Refusal::Credentials),
            "refused: the URL must not contain a user name or password",
        ),
        (
            Failure::Refused(Refusal::NotPublic("::ffff:10.0.0.1".parse().unwrap())),
            "refused: ::ffff:10.0.0.1 is not a public address",
        ),
        (
            Failure::Refused(Refusal::ResolvesToNotPublic {
                host: "lovelace.dev".into(),
                address: "127.0.0.1".parse().unwrap(),
            }),
            "refused: lovelace.dev resolves to 127.0.0.1, which is not a public address",
        ),
        (Failure::InvalidUrl, "invalid URL"),
        (Failure::NoHost, "invalid URL: no host"),
        (
            Failure::BadHeaderName { name: "a b".into() },
            "invalid request: bad header name \"a b\"",
        ),
        (
            Failure::BadHeaderValue {
                name: "X-Sig".into(),
            },
            "invalid request: bad value for header \"X-Sig\"",
        ),
        (
            Failure::SecretUnreadable,
            "the webhook secret cannot be read with this server's key (ASSENT_SECRET_KEY changed?)",
        ),
        (
            Failure::Interrupted,
            "interrupted: the sender stopped before recording the outcome (the endpoint may have received it)",
        ),
    ];
    for (failure, sentence) in sentences {
        assert_eq!(failure.to_string(), sentence);
    }
}

#[test]
fn an_attempt_shows_its_status_or_its_error_never_both() {
    let delivered = ok(200);
    assert_eq!(
        (
            delivered.status(),
            delivered.error(),
            delivered.response_excerpt()
        ),
        (Some(200), None, "thanks")
    );
    let refused = attempt(Err(status(500, Some(secs(7)))));
    assert_eq!(
        (
            refused.status(),
            refused.error(),
            refused.response_excerpt()
        ),
        (Some(500), None, "scripted")
    );
    assert_eq!(refused.retry_after(), Some(secs(7)));
    let timed_out = attempt(Err(timeout()));
    assert_eq!(
        (
            timed_out.status(),
            timed_out.error(),
            timed_out.response_excerpt()
        ),
        (None, Some("timed out after 10 s".to_owned()), "")
    );
    assert_eq!(timed_out.retry_after(), None);
    assert_eq!(timed_out.ended_at(), at(secs(1)));
}

#[test]
fn failure_kinds_are_one_word_each() {
    let kinds: Vec<&str> = every_failure().iter().map(|(f, _)| f.kind()).collect();
    for kind in &kinds {
        assert!(
            kind.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
            "{kind}"
        );
    }
    assert_eq!(status(500, None).kind(), "status");
    assert_eq!(timeout().kind(), "timeout");
    assert_eq!(Failure::Refused(Refusal::PlainHttp).kind(), "refused");
}

#[test]
fn a_disabled_endpoint_is_disabled_whatever_its_streak_and_an_enabled_one_fails_while_it_runs() {
    assert_eq!(EndpointStatus::of(true, false).as_str(), "healthy");
    assert_eq!(EndpointStatus::of(true, true).as_str(), "failing");
    assert_eq!(EndpointStatus::of(false, true).as_str(), "disabled");
    assert_eq!(EndpointStatus::of(false, false).as_str(), "disabled");
}
