// Starts Swagger UI on fnproxy's /docs page. A file rather than an inline script, so the page's
// Content-Security-Policy allows scripts from the server itself only.
"use strict";
window.ui = SwaggerUIBundle({
  url: new URL("openapi.json", document.baseURI).href,
  dom_id: "#swagger-ui",
  deepLinking: true,
  tryItOutEnabled: true,
  displayRequestDuration: true,
  // The token stays in this tab's memory: persisted, it would sit in localStorage for any
  // script of the origin to read, after the tab is gone.
  persistAuthorization: false,
  // The default validator badge loads an image from validator.swagger.io: nothing leaves here.
  validatorUrl: null,
});
