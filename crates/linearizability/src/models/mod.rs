//! Ready-made models: [`kv`], the key/value store of 6.824 Lab 3, and [`register`], a single
//! integer register for small examples and tests.

pub mod kv;
pub mod register;
