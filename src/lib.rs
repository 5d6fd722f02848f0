//! megascope: a debugger for the resident state of a GPU persistent megakernel with vyre's
//! ABI. Layers, from bytes up: [`abi`] → [`resident`] → [`engine`] → files and the app.

pub mod abi;
pub mod app;
pub mod bench;
pub mod cli;
pub mod debugger;
pub mod engine;
pub mod failure;
pub mod files;
pub mod inspect;
pub mod progress;
pub mod resident;
pub mod scenario;
pub mod ui;
