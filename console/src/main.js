// The console's entry point: the shell (router) and every page, as custom elements.
import "./app.js";
import "./sign-in.js";
import "./upload-page.js";
import "./jobs-page.js";
import "./job-detail.js";
import "./player-page.js";
import "./stats-page.js";
import "./badge.js";
