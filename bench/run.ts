console.log("benchmarks: see bench/*.ts");
