#!/usr/bin/env node
const { version } = require("./package.json");
console.log(`hello from hello-npm ${version}, installed with npm on node ${process.versions.node.split(".")[0]}`);
