//! End-to-end tests against the real `gateway` binary, on SQLite and on PostgreSQL.

mod support;

mod admin;
mod cli;
mod cluster;
mod connect;
mod deploy;
mod diagnosis;
mod disputes;
mod durability;
mod exactly_once;
mod forwarding;
mod hostile;
mod logs;
mod longpoll;
mod money;
mod monitoring;
mod notifications;
mod openapi;
mod operations;
mod operator;
mod ordering;
mod orders;
mod outbound;
mod rate_limits;
mod readme;
mod recovery;
mod retention;
mod storage;
mod webhooks;
