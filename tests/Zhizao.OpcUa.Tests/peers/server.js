// A node-opcua server for the Zhizao.OpcUa interop tests.
// usage: node server.js PORT PKI_DIR [BENCH_ITEMS]
// Prints "READY <port> <node-opcua version>" once it listens.
"use strict";
const path = require("path");
const {
    OPCUAServer, OPCUACertificateManager, Variant, DataType, StatusCodes,
    MessageSecurityMode, SecurityPolicy, AccessLevelFlag
} = require("node-opcua");

const port = parseInt(process.argv[2], 10);
const pki = process.argv[3];
const benchItems = parseInt(process.argv[4] || "0", 10);
const version = require("node-opcua/package.json").version;

async function main() {
    const serverCertificateManager = new OPCUACertificateManager({
        automaticallyAcceptUnknownCertificate: true,
        rootFolder: path.join(pki, "server")
    });
    await serverCertificateManager.initialize();
    const server = new OPCUAServer({
        port,
        resourcePath: "/UA/Zhizao",
        serverCertificateManager,
        allowAnonymous: true,
        securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
        securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
        userManager: {
            isValidUser: (userName, password) => userName === "operator" && password === "s3cret!"
        },
        maxConnectionsPerEndpoint: 200,
        serverCapabilities: {
            maxSessions: 200,
            maxMonitoredItems: 200000,
            maxMonitoredItemsPerSubscription: 200000,
            maxMonitoredItemsQueueSize: 10000
        },
        buildInfo: { productName: "zhizao-test-peer", buildNumber: "1" }
    });
    await server.initialize();
    const addressSpace = server.engine.addressSpace;
    const ns = addressSpace.getOwnNamespace();
    const plant = ns.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: "Plant", nodeId: "s=Plant" });
    const add = (name, dataType, value, extra) => ns.addVariable(Object.assign({
        componentOf: plant, browseName: name, nodeId: "s=Plant." + name, dataType,
        value: new Variant({ dataType: DataType[dataType], value })
    }, extra || {}));
    add("Temperature", "Double", 21.5, { accessLevel: "CurrentRead", userAccessLevel: "CurrentRead" });
    add("Count", "Int32", 42);
    add("Running", "Boolean", true);
    add("Name", "String", "Line 1 — 智造");
    ns.addVariable({
        componentOf: plant, browseName: "Vector", nodeId: "s=Plant.Vector", dataType: "Double", valueRank: 1,
        value: new Variant({ dataType: DataType.Double, arrayType: 1, value: new Float64Array([1.5, 2.5, 3.5]) })
    });
    ns.addVariable({
        componentOf: plant, browseName: "Codes", nodeId: "s=Plant.Codes", dataType: "Int32", valueRank: 1,
        value: new Variant({ dataType: DataType.Int32, arrayType: 1, value: new Int32Array([10, 20, 30]) })
    });
    const setpoint = ns.addVariable({
        componentOf: plant, browseName: "Setpoint", nodeId: "s=Plant.Setpoint", dataType: "Double",
        accessLevel: "CurrentRead | CurrentWrite", userAccessLevel: "CurrentRead | CurrentWrite",
        value: new Variant({ dataType: DataType.Double, value: 50 })
    });
    setpoint.setValueFromSource(new Variant({ dataType: DataType.Double, value: 50 }));
    // a value that changes every 100 ms and keeps its history in memory
    const counter = ns.addVariable({
        componentOf: plant, browseName: "Counter", nodeId: "s=Plant.Counter", dataType: "Int32",
        accessLevel: "CurrentRead | HistoryRead", userAccessLevel: "CurrentRead | HistoryRead", historizing: true
    });
    addressSpace.installHistoricalDataNode(counter, { maxOnlineValues: 100000 });
    let n = 0;
    counter.setValueFromSource(new Variant({ dataType: DataType.Int32, value: n }));
    setInterval(() => counter.setValueFromSource(new Variant({ dataType: DataType.Int32, value: ++n })), 100);
    // a sine-like value for deadband tests: steps of 0.1 every 100 ms between 0 and 10
    const ramp = add("Ramp", "Double", 0);
    let r = 0;
    setInterval(() => { r = (r + 1) % 100; ramp.setValueFromSource(new Variant({ dataType: DataType.Double, value: r / 10 })); }, 100);
    // many children for BrowseNext
    const folder = ns.addObject({ componentOf: plant, browseName: "Tags", nodeId: "s=Plant.Tags" });
    for (let i = 0; i < 25; i++) {
        ns.addVariable({
            componentOf: folder, browseName: "Tag" + String(i).padStart(2, "0"), nodeId: "s=Plant.Tags." + i, dataType: "Int32",
            value: new Variant({ dataType: DataType.Int32, value: i })
        });
    }
    if (benchItems > 0) {
        const bench = ns.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: "Bench", nodeId: "s=Bench" });
        const vars = [];
        for (let i = 0; i < benchItems; i++) {
            vars.push(ns.addVariable({
                componentOf: bench, browseName: "B" + i, nodeId: "s=Bench." + i, dataType: "Double",
                value: new Variant({ dataType: DataType.Double, value: 0 })
            }));
        }
        let t = 0;
        setInterval(() => {
            t++;
            for (let i = 0; i < vars.length; i++)
                vars[i].setValueFromSource(new Variant({ dataType: DataType.Double, value: t + i / 1000 }));
        }, 100);
    }
    await server.start();
    process.stdout.write("READY " + port + " " + version + "\n");
    const stop = async () => { await server.shutdown(0); process.exit(0); };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
}

main().catch((e) => { process.stderr.write("server failed: " + (e && e.stack || e) + "\n"); process.exit(1); });
