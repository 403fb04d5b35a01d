/**
 * Child process for bench/stores.ts: runs s3rver on loopback in its own process, so the backup's peak RSS
 * measured in the bench process is the product's alone (as against a real S3). Prints the endpoint on one
 * line, stops when stdin closes.
 */
import { startS3rver } from '../src/lab/local-servers/object-store-servers.ts';

const s3 = await startS3rver();
process.stdout.write(`${s3.endpoint}\n`);
process.stdin.resume();
process.stdin.on('end', () => void s3.stop().then(() => process.exit(0)));
