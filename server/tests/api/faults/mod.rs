//! Faults and how wavekeep comes through them: the database going away
//! under load (`breaker`), a full disk (`disk`), SIGKILLs while uploads
//! and jobs are in flight (`soak`), a stop while event streams are open
//! (`shutdown`).

pub(crate) mod breaker;
mod disk;
mod shutdown;
mod soak;
