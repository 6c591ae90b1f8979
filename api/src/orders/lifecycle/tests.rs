//! The lifecycle's rules, each on its own, and every delivery order of realistic sets.

use super::*;

fn paid(amount: i64) -> Effect {
    Effect::Paid {
        amount: Some(amount),
        currency: Some("eur".into()),
    }
}

fn refunded(amount_refunded: i64) -> Effect {
    Effect::ChargeRefunded {
        amount: Some(2599),
        amount_refunded,
        currency: Some("eur".into()),
    }
}

fn status_after(effects: &[Effect]) -> OrderStatus {
    let mut payment = PaymentFacts::default();
    let mut ended = Ended::default();
    for effect in effects {
        ended.expired |= *effect == Effect::Expired;
        ended.canceled |= *effect == Effect::Canceled;
        payment.apply(effect);
    }
    order_status(EUR_2599, ended, &[payment])
}

fn dispute(status: DisputeStatus) -> Effect {
    Effect::Dispute(Dispute {
        id: "dp_1".into(),
        amount: 2599,
        currency: Some("eur".into()),
        reason: Some("fraudulent".into()),
        status,
        evidence_due_by: Some(1_800_000_000),
    })
}

const EUR_2599: Money = Money {
    amount: 2599,
    currency: "eur",
};

fn payment_of(amount: i64, currency: &str) -> PaymentFacts {
    let mut p = PaymentFacts::default();
    p.apply(&Effect::Paid {
        amount: Some(amount),
        currency: Some(currency.into()),
    });
    p
}

#[test]
fn money_is_checked_before_an_order_is_paid() {
    let order = Money {
        amount: 3000,
        currency: "eur",
    };
    assert_eq!(
        order_status(EUR_2599, Ended::default(), &[payment_of(1, "jpy")]),
        OrderStatus::AmountMismatch,
        "1 JPY does not pay 25.99 EUR"
    );
    assert_eq!(
        order_status(EUR_2599, Ended::default(), &[payment_of(2599, "usd")]),
        OrderStatus::AmountMismatch,
        "the same number in another currency does not either"
    );
    let first = payment_of(1000, "eur");
    assert_eq!(
        order_status(order, Ended::default(), std::slice::from_ref(&first)),
        OrderStatus::AmountMismatch
    );
    assert_eq!(
        order_status(order, Ended::default(), &[first, payment_of(2000, "eur")]),
        OrderStatus::Paid,
        "two payments that add up pay it"
    );
    assert_eq!(
        order_status(EUR_2599, Ended::default(), &[payment_of(5000, "eur")]),
        OrderStatus::Paid,
        "more than enough pays it"
    );
    let mut unknown = PaymentFacts::default();
    unknown.apply(&Effect::Paid {
        amount: None,
        currency: None,
    });
    assert_eq!(
        order_status(EUR_2599, Ended::default(), &[unknown]),
        OrderStatus::AmountMismatch,
        "a payment that does not say how much is not assumed to be enough"
    );
}

#[test]
fn the_contract_transitions() {
    assert_eq!(status_after(&[]), OrderStatus::PaymentPending);
    assert_eq!(
        status_after(&[Effect::Pending]),
        OrderStatus::PaymentPending
    );
    assert_eq!(status_after(&[paid(2599)]), OrderStatus::Paid);
    assert_eq!(status_after(&[Effect::Failed]), OrderStatus::PaymentFailed);
    assert_eq!(
        status_after(&[Effect::Failed, Effect::Expired]),
        OrderStatus::Expired
    );
    assert_eq!(
        status_after(&[Effect::Expired, Effect::Failed]),
        OrderStatus::Expired
    );
    assert_eq!(
        status_after(&[Effect::Failed, paid(2599)]),
        OrderStatus::Paid
    );
    assert_eq!(
        status_after(&[paid(2599), refunded(1000)]),
        OrderStatus::PartiallyRefunded
    );
    assert_eq!(
        status_after(&[paid(2599), refunded(2599)]),
        OrderStatus::Refunded
    );
}

#[test]
fn late_failures_and_expiries_never_move_a_paid_order_back() {
    assert_eq!(
        status_after(&[paid(2599), Effect::Failed]),
        OrderStatus::Paid
    );
    assert_eq!(
        status_after(&[paid(2599), Effect::Expired]),
        OrderStatus::Paid
    );
    assert_eq!(
        status_after(&[paid(2599), refunded(2599), Effect::Failed, Effect::Expired]),
        OrderStatus::Refunded
    );
}

#[test]
fn refunded_amount_only_grows() {
    assert_eq!(
        status_after(&[refunded(2599), refunded(1000)]),
        OrderStatus::Refunded
    );
    let mut p = PaymentFacts::default();
    p.apply(&refunded(2599));
    p.apply(&refunded(1000));
    assert_eq!(p.amount_refunded(), 2599);
}

#[test]
fn a_refund_before_the_payment_still_ends_refunded() {
    assert_eq!(
        status_after(&[refunded(2599), paid(2599)]),
        OrderStatus::Refunded
    );
}

#[test]
fn refund_objects_count_once_and_only_when_succeeded() {
    let refund = |status| Effect::Refund {
        refund_id: "re_1".into(),
        amount: 2599,
        status,
    };
    let mut p = PaymentFacts::default();
    p.apply(&paid(2599));
    p.apply(&refund(RefundStatus::Pending));
    assert_eq!(p.amount_refunded(), 0);
    p.apply(&refund(RefundStatus::Succeeded));
    p.apply(&refund(RefundStatus::Succeeded));
    assert_eq!(p.amount_refunded(), 2599);
    assert_eq!(p.status(None), "refunded");
    p.apply(&refund(RefundStatus::Pending));
    assert_eq!(
        p.amount_refunded(),
        2599,
        "a late 'pending' does not undo it"
    );
    p.apply(&refund(RefundStatus::Failed));
    assert_eq!(
        p.amount_refunded(),
        0,
        "a failed refund gives the money back"
    );
    let round_trip = PaymentFacts::refunds_from_json(&p.refunds_json());
    assert_eq!(round_trip, p.refunds);
}

#[test]
fn a_dispute_holds_the_order_until_it_closes() {
    use DisputeStatus::*;
    assert_eq!(
        status_after(&[paid(2599), dispute(NeedsResponse)]),
        OrderStatus::Disputed
    );
    assert_eq!(
        status_after(&[paid(2599), dispute(NeedsResponse), dispute(Won)]),
        OrderStatus::Paid,
        "won: back to what it was"
    );
    assert_eq!(
        status_after(&[paid(2599), refunded(1000), dispute(Won)]),
        OrderStatus::PartiallyRefunded
    );
    assert_eq!(
        status_after(&[dispute(Lost), paid(2599), dispute(NeedsResponse)]),
        OrderStatus::DisputeLost,
        "closed stays closed, whatever comes after"
    );
    assert_eq!(
        status_after(&[
            dispute(WarningNeedsResponse),
            dispute(WarningClosed),
            paid(2599)
        ]),
        OrderStatus::Paid,
        "an inquiry that closed took nothing"
    );
    let mut p = PaymentFacts::default();
    p.apply(&dispute(UnderReview));
    p.apply(&dispute(NeedsResponse));
    assert_eq!(
        p.disputes["dp_1"].status, UnderReview,
        "the later status wins"
    );
    let round_trip = PaymentFacts::disputes_from_json(&p.disputes_json());
    assert_eq!(round_trip, p.disputes);
}

#[test]
fn a_cancellation_ends_only_an_order_that_no_money_reached() {
    assert_eq!(status_after(&[Effect::Canceled]), OrderStatus::Canceled);
    assert_eq!(
        status_after(&[Effect::Failed, Effect::Canceled]),
        OrderStatus::Canceled
    );
    assert_eq!(
        status_after(&[paid(2599), Effect::Canceled]),
        OrderStatus::Paid
    );
    assert_eq!(
        status_after(&[Effect::Canceled, paid(2599)]),
        OrderStatus::Paid,
        "a payment that succeeds later counts, as for an expired order"
    );
}

/// Payment, refund, dispute opened and closed, in every order: the same end.
#[test]
fn every_order_of_payment_refund_and_dispute_reaches_the_same_end() {
    for (closed, end) in [
        (DisputeStatus::Won, OrderStatus::PartiallyRefunded),
        (DisputeStatus::Lost, OrderStatus::DisputeLost),
    ] {
        let effects = [
            paid(2599),
            refunded(1000),
            dispute(DisputeStatus::NeedsResponse),
            dispute(DisputeStatus::UnderReview),
            dispute(closed),
        ];
        permutations(effects.len(), &mut |order| {
            let seq: Vec<Effect> = order.iter().map(|i| effects[*i].clone()).collect();
            assert_eq!(status_after(&seq), end, "order {order:?}");
        });
    }
}

/// Every permutation of a realistic set of effects reaches the same facts.
#[test]
fn every_delivery_order_reaches_the_same_facts() {
    let effects = [
        Effect::Pending,
        paid(2599),
        paid(2599),
        Effect::Failed,
        Effect::Expired,
        refunded(1000),
        refunded(2599),
    ];
    let mut seen = None;
    permutations(effects.len(), &mut |order| {
        let mut p = PaymentFacts::default();
        for i in order {
            p.apply(&effects[*i]);
        }
        let result = (
            p.clone(),
            status_after(
                &order
                    .iter()
                    .map(|i| effects[*i].clone())
                    .collect::<Vec<_>>(),
            ),
        );
        match &seen {
            None => seen = Some(result),
            Some(first) => assert_eq!(first, &result, "order {order:?}"),
        }
    });
    assert_eq!(seen.unwrap().1, OrderStatus::Refunded);
}

/// Calls `f` with every permutation of `0..n` (Heap's algorithm).
pub fn permutations(n: usize, f: &mut dyn FnMut(&[usize])) {
    let mut items: Vec<usize> = (0..n).collect();
    let mut c = vec![0; n];
    f(&items);
    let mut i = 0;
    while i < n {
        if c[i] < i {
            if i % 2 == 0 {
                items.swap(0, i);
            } else {
                items.swap(c[i], i);
            }
            f(&items);
            c[i] += 1;
            i = 0;
        } else {
            c[i] = 0;
            i += 1;
        }
    }
}
