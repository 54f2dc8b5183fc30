//! Toolset `billing`: subscriptions, metered usage, billing runs and test clocks.

crate::ops::operations!(
    create_subscription,
    get_subscription,
    list_subscriptions,
    cancel_subscription,
    report_usage,
    get_usage,
    run_billing,
    advance_test_clock
);
