//! Outputs: where a function's events go — back to the caller as the Knative
//! reply, or POSTed in binary mode to a sink (a Broker ingress, a KafkaSink).

mod bounds;
mod ids;
mod reply;
mod sink;

pub use bounds::{MAX_OUTPUT_EXTENSIONS, check_bounds};
pub use ids::{output_id, prepare};
pub use reply::{reply_batch, reply_single};
pub use sink::{SinkClient, SinkError};
