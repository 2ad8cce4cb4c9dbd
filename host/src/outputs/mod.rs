//! Outputs: where a function's events go — back to the caller as the Knative
//! reply, or POSTed in binary mode to a sink (a Broker ingress, a KafkaSink).
//! [`Destination`] is the one place that chooses between them.

mod bounds;
mod destination;
mod ids;
mod reply;
mod sink;

pub use bounds::{MAX_OUTPUT_EXTENSIONS, check_bounds};
pub use destination::Destination;
pub use ids::{output_id, prepare};
pub use reply::{reply_batch, reply_single};
pub use sink::{SinkClient, SinkError};
