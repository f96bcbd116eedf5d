//! Layerr's read side: the database handle, the global feed (every event in commit order, never
//! skipping one), projector checkpoints, the projection runner and the read models. It never calls
//! a provider and never writes events.

pub mod audit_log;
pub mod conversations;
pub mod db;
pub mod economics;
pub mod feed;
pub mod provider_outcomes;
pub mod runner;
pub mod sql;
pub mod tenancy;
pub mod traces;

pub use db::{Backend, Db, DbError};
pub use feed::{Cursor, Interest, StoredEvent};
pub use runner::{ProjectionRunner, Projector};
