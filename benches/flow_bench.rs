//! Telegram → agent → node → reply benchmark: spawns the release `openclaw` binary with a
//! config pointing `channels.telegram.apiRoot` and `models.providers.bench.baseUrl` at
//! in-bench fakes (one actix-web `HttpServer` on `127.0.0.1:0`, on its own thread), connects
//! an in-process fake node (Ed25519 device proof, silently paired on loopback, surface
//! approved with `node.pair.approve`) that answers `echo.test` at once, and sends Telegram
//! messages one at a time.
//!
//! For each message it measures the gateway's own added time:
//!
//! ```text
//! added = (sendMessage arrival − getUpdates response sent) − model handler time − node time
//! ```
//!
//! where the model handler time is what the fake model spent between receiving a request and
//! handing back its answer (both calls of the run), and the node time is what the fake node
//! spent between reading `node.invoke.request` and sending `node.invoke.result`. What is left
//! is the gateway: update parsing and policy, the durable channel-state write, session
//! lookup, transcript reads/appends, two model HTTP round trips (client side), the node
//! round trip over WebSocket, and the `sendMessage` call.
//!
//! Flows:
//! 1. with a model: the model answers a `nodes` tool call (`invoke bench-node echo.test`),
//!    then the final text;
//! 2. no model configured: the embedded command agent runs `/invoke bench-node echo.test
//!    {"x":1}`.
//!
//! Run: `cargo bench --bench flow_bench`. Every loop is bounded in count and time, every
//! await has a timeout, traffic goes only to 127.0.0.1, and each gateway is killed on exit
//! (including on panic) by [`Gateway`]'s `Drop`. The fakes, the node and the driver share the
//! machine's cores with the gateway.
//!
//! The fakes and the flow itself live in `common/flow.rs` (shared with `load_bench`).

mod common;

use common::bin;
use common::flow::{Flow, run_flow};

const WARMUP: usize = 50;
const N: usize = 1000;

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    println!("flow_bench: {}", bin());
    common::run_main("flow_bench", async move {
        for f in [Flow::with_model(), Flow::command_agent()] {
            run_flow(&f, N, WARMUP).await?;
        }
        Ok(())
    });
}
