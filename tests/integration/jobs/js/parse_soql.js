// Reads a JSON list of SOQL queries on stdin; prints, for each, the parsed query or the error.
const { parseQuery } = require("soql-parser-js");

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const out = JSON.parse(input).map((soql) => {
    try {
      return { ok: true, query: parseQuery(soql) };
    } catch (error) {
      return { ok: false, error: String(error && error.message ? error.message : error) };
    }
  });
  process.stdout.write(JSON.stringify(out));
});
