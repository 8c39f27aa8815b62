//! A single integer register, initially 0: writes replace the value, reads return it. The
//! smallest model worth checking, for examples and tests.

use crate::history::Operation;
use crate::model::Model;

/// A register operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterInput {
    /// Read the value (the output is what was read).
    Read,
    /// Write this value (the output is ignored).
    Write(i64),
}

/// The register model.
#[derive(Clone, Copy, Debug, Default)]
pub struct RegisterModel;

/// One operation of a register history; the output is the value read (0 for a write).
pub type RegisterOperation = Operation<RegisterInput, i64>;

impl RegisterModel {
    /// A `read() -> value` operation, for building histories.
    pub fn read(client_id: usize, value: i64, call: u64, ret: u64) -> RegisterOperation {
        let input = RegisterInput::Read;
        Operation {
            client_id,
            input,
            call_time: call,
            output: value,
            return_time: ret,
        }
    }

    /// A `write(value)` operation, for building histories.
    pub fn write(client_id: usize, value: i64, call: u64, ret: u64) -> RegisterOperation {
        let input = RegisterInput::Write(value);
        Operation {
            client_id,
            input,
            call_time: call,
            output: 0,
            return_time: ret,
        }
    }
}

impl Model for RegisterModel {
    type Input = RegisterInput;
    type Output = i64;
    type State = i64;

    fn init(&self) -> i64 {
        0
    }

    fn step(&self, state: &i64, input: &RegisterInput, output: &i64) -> Option<i64> {
        match *input {
            RegisterInput::Read => (*output == *state).then_some(*state),
            RegisterInput::Write(value) => Some(value),
        }
    }

    fn may_leave_state_unchanged(&self, input: &RegisterInput) -> bool {
        *input == RegisterInput::Read
    }

    fn describe_operation(&self, input: &RegisterInput, output: &i64) -> String {
        match input {
            RegisterInput::Read => format!("read() -> {output}"),
            RegisterInput::Write(value) => format!("write({value})"),
        }
    }
}
