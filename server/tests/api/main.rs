//! Integration tests of the whole router (in-process) and the real server
//! (loopback, port 0). Database tests run on SQLite and, when
//! `WAVEKEEP_TEST_PG_URL` is set, on PostgreSQL (`postgres::` test names).

#[path = "../support/fake_stt/mod.rs"]
mod fake_stt;
#[path = "../support/ffmpeg.rs"]
mod ffmpeg;

mod audio;
mod helpers;

mod access;
mod admin;
mod analyze;
mod api_keys;
mod auth;
mod bad_input;
mod binary;
mod browse;
mod calls;
mod crash;
mod csrf;
mod faults;
mod health;
mod import;
mod jobs;
mod library;
mod pages;
mod real_server;
mod scale_out;
mod security;
mod storage;
mod transcripts;
mod uploads;
mod worker;
