// Entry point: renders the console into `<div id="app">`.
//
// Routing is by the URL fragment (`#/projects`, `#/org`, `#/p/<project id>`), so the edge
// serves one page at `/` and a reload needs no server-side routes.

import { render } from "preact";

import { App } from "./app";

const root = document.getElementById("app");
if (root) render(<App />, root);
