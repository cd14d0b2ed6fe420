export { TAKEDOWN_REASONS, isExpired, isHidden, type ImageRecord, type StoredContentType, type Takedown, type TakedownReason } from './image.model.js';
export { ImageRepository, REPLICA_SET_OPTIONS, connectDatabase, type DatabaseSettings, type InsertOutcome } from './image.repository.js';
export type { BlocklistEntry, BlocklistEntryView, BlocklistKind } from './blocklist.model.js';
export { BlocklistRepository, type BlocklistQuery, type NewBlocklistEntry } from './blocklist.repository.js';
export { MAX_PERCEPTUAL_DISTANCE, isPerceptualHash, perceptualTerms, sha256Term, storedPerceptualTerms } from './blocklist-terms.js';
export {
  REPORT_CONTACT_MAX,
  REPORT_DETAILS_MAX,
  REPORT_REASONS,
  REPORT_STATUSES,
  type ReportReason,
  type ReportRecord,
  type ReportStatus,
} from './report.model.js';
export { ReportRepository, type NewReport, type OpenOutcome, type OpenReportStats } from './report.repository.js';
export type { MongoCallObserver } from './backend-errors.js';
