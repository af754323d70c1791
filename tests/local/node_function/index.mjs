// A streaming handler for the real Node.js runtime interface client (npm aws-lambda-ric).
export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
  const stream = awslambda.HttpResponseStream.from(responseStream, {
    statusCode: 200,
    headers: { "content-type": "text/plain" },
    cookies: ["a=1"],
  });
  stream.write("hello ");
  await new Promise((resolve) => setTimeout(resolve, 300));
  if (event.rawPath === "/fail") {
    throw new Error("boom");
  }
  stream.write("world");
  stream.end();
});
