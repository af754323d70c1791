// Handlers for AWS's Node.js runtime interface client behind streamway local's Lambda API.
import net from "node:net";

// Resolves once the test sends one byte on a loopback connection to `port`: the handler
// waits there, so "the first chunk arrived before the last was written" needs no timing.
function gate(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("data", () => {
      socket.destroy();
      resolve();
    });
    socket.once("error", reject);
  });
}

export const stream = awslambda.streamifyResponse(async (event, responseStream) => {
  console.log("streaming for", event.name ?? "nobody");
  responseStream.setContentType("text/plain");
  responseStream.write("hello ");
  if (event.gate) {
    await gate(event.gate);
  }
  if (event.fail) {
    throw new Error("boom");
  }
  responseStream.write("world");
  responseStream.end();
});

export const buffered = async (event) => {
  console.log("buffered for", event.name ?? "nobody");
  if (event.fail) {
    throw new TypeError("no answer");
  }
  return { greeting: `hello ${event.name}` };
};
