/** The audit log (DESIGN §3, docs/audit.md): what the queen, hives, workers and the CLI import. */
export type { AuditEmitOptions, AuditLog, AuditRecordListener, AuditRecovery, AuditStats } from './AuditLog.js';
export { auditModeFromEnv, auditSinkFromEnv, AUDIT_ENV, createAuditSink } from './createAuditSink.js';
export type { CreateAuditSinkOptions } from './createAuditSink.js';
export { LocalAuditLog } from './LocalAuditLog.js';
export type { LocalAuditLogOptions } from './LocalAuditLog.js';
export { createDisabledAuditLog } from './DisabledAuditLog.js';
export { verifyAuditDir } from './verifyAuditDir.js';
export type { VerifyAuditDirOptions } from './verifyAuditDir.js';
export { queryAuditDir, encodeAuditCursor, decodeAuditCursor } from './queryAuditDir.js';
export { auditServiceDirName, listAuditChains, queryAuditTree, verifyAuditTree } from './auditTree.js';
export { registerAuditMetrics, NOOP_AUDIT_METRICS } from './auditMetrics.js';
export type { AuditMetrics, AuditRejectReason } from './auditMetrics.js';
export { auditTokenFingerprint, sanitizeAuditEvent } from './sanitizeAuditEvent.js';
export { canonicalJson, computeRecordHash, recordHashInput } from './canonicalJson.js';
export { queryAuditSources, mergeAuditPages } from '../../src-shared/audit/mergeAuditPages.js';
export type { AuditSource } from '../../src-shared/audit/mergeAuditPages.js';
export { createRecordingAuditSink } from './createRecordingAuditSink.js';
export type { RecordingAuditSink } from './createRecordingAuditSink.js';
